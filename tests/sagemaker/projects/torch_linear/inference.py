"""Serving handlers (SageMaker names): JSON {"instances": [[x], ...]} -> {"predictions": [[y], ...], "served_by": ...}."""
import json
import os

import torch


def model_fn(model_dir):
    return torch.jit.load(os.path.join(model_dir, "model.pt"), map_location="cpu")


def predict_fn(data, model):
    with torch.no_grad():
        return model(torch.tensor(data, dtype=torch.float32)).tolist()


def output_fn(prediction, accept):
    return json.dumps({"predictions": prediction, "served_by": "inference.py"}), "application/json"
