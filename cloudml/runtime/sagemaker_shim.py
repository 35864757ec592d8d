"""SageMaker serving shim: what ``SAGEMAKER_PROGRAM`` names in a model cloudml deploys on SageMaker. Standard
library only (the inference toolkit's error type is used when the container has it).

The framework containers' inference toolkit (``sagemaker-inference`` / ``sagemaker-pytorch-inference``) imports
``SAGEMAKER_PROGRAM`` from ``/opt/ml/model/code`` and calls its ``model_fn`` / ``input_fn`` / ``predict_fn`` /
``output_fn``, falling back to ITS defaults for missing ones; those defaults differ from cloudml's (a JSON
``{"instances": ...}`` body fails; the output is a bare list). So cloudml ships ``code/cloudml_inference.py``
(``from cloudml_runtime.sagemaker_shim import *``) with ``cloudml_runtime/`` and points ``SAGEMAKER_PROGRAM`` at it:
the user's handlers (``CLOUDML_SERVING_ENTRY``, default ``inference.py``) are loaded through
``cloudml_runtime.serving.Model``, the same loader every provider uses, and whatever the user did not define gets
cloudml's defaults, on the real container exactly as on ``local``.

One model per worker process (how the model servers run a handler): ``model_fn`` keeps the loaded ``Model`` for
``input_fn`` / ``output_fn``, which the toolkit calls without it. A ``HandlerError`` becomes the toolkit's error
with the same HTTP status (415 unsupported content type, 406 unsupported accept, 400 bad input).
"""

from __future__ import annotations

import os
from typing import Any

from . import serving

__all__ = ["model_fn", "input_fn", "predict_fn", "output_fn"]

_loaded: list[serving.Model] = []


def _error(exc: serving.HandlerError) -> Exception:
    try:
        from sagemaker_inference.errors import GenericInferenceToolkitError
    except ImportError:
        return exc
    return GenericInferenceToolkitError(exc.status, str(exc))


def _model() -> serving.Model:
    if not _loaded:
        raise RuntimeError("model_fn has not run in this worker")
    return _loaded[-1]


def model_fn(model_dir: str) -> serving.Model:
    code_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # code/ (this is code/cloudml_runtime/)
    entry = os.environ.get("CLOUDML_SERVING_ENTRY") or "inference.py"
    model = serving.Model(model_dir, code_dir, entry)
    _loaded.append(model)
    return model


def input_fn(body: Any, content_type: str) -> Any:
    if isinstance(body, str):   # the toolkit decodes text types (JSON, CSV) before calling input_fn
        body = body.encode("utf-8")
    try:
        return _model().input_fn(body, content_type)
    except serving.HandlerError as exc:
        raise _error(exc) from exc


def predict_fn(data: Any, model: serving.Model) -> Any:
    try:
        return model.predict_fn(data, model.model)
    except serving.HandlerError as exc:
        raise _error(exc) from exc
    except Exception as exc:   # input the model cannot take is the request's fault (400), as on every provider
        if serving.input_problem(exc):
            raise _error(serving.HandlerError(f"the model cannot take this input: {exc}", 400)) from exc
        raise


def output_fn(prediction: Any, accept: str) -> tuple[bytes, str]:
    model = _model()
    try:
        out = model.output_fn(prediction, accept)
    except serving.HandlerError as exc:
        raise _error(exc) from exc
    payload, ctype = out if isinstance(out, tuple) else (out, accept if accept not in ("*/*", "") else
                                                          "application/json")
    return (payload.encode() if isinstance(payload, str) else bytes(payload)), ctype
