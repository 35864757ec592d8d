"""Serving handlers, with SageMaker's names (cloudml uses them on every provider and locally).

Request:  {"instances": [[x1, x2], ...]}      (JSON; the default input_fn unwraps "instances")
Response: {"predictions": [y, ...]}           (the default output_fn wraps what predict_fn returns)
"""

import json
import os

import torch
from model import build_model


def model_fn(model_dir):
    """Load the model train.py saved in CLOUDML_MODEL_DIR."""
    with open(os.path.join(model_dir, "meta.json")) as f:
        meta = json.load(f)
    model = build_model(meta["features"], meta["hidden"])
    model.load_state_dict(torch.load(os.path.join(model_dir, "model.pth"), map_location="cpu"))
    return model.eval()


def predict_fn(data, model):
    with torch.no_grad():
        return model(torch.as_tensor(data, dtype=torch.float32)).squeeze(-1).tolist()
