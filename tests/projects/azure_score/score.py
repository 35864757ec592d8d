"""An Azure ML scoring script: init() loads the model from AZUREML_MODEL_DIR, run() answers one raw request."""
import json
import os

model = None


def init():
    global model
    with open(os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model.json")) as f:
        model = json.load(f)


def run(raw_data):
    data = json.loads(raw_data)["data"]
    return {"result": [model["w"] * x + model["b"] for x in data]}
