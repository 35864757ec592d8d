"""Azure ML's published scoring server (``azureml-inference-server-http``, what the Azure ML inference images run for
a ``score.py``) started as its ``azmlinfsrv`` command starts it, bound to 127.0.0.1 instead of 0.0.0.0 (the only
change: ``amlserver.DEFAULT_HOST``). Run with the image's interpreter (``tests/rigs/images.py``); it imports nothing
of cloudml or of the tests:

    python azureml_inference_server.py --entry_script score.py --model_dir DIR --port P

The server (gunicorn with one worker) imports the entry script from ``AML_APP_ROOT``, calls ``init()`` when the
worker boots, answers ``GET /`` (liveness) and ``POST /score`` (``run(raw_data)``; its own input parsing, JSON
wrapping and error statuses).
"""

from azureml_inference_server_http import amlserver

if __name__ == "__main__":
    amlserver.DEFAULT_HOST = "127.0.0.1"   # the rig's servers listen on the loopback interface only
    amlserver.run()
