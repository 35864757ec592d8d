"""Serving handlers (SageMaker names). input_fn/output_fn use cloudml's JSON defaults:
{"instances": [[x1, ...], ...]} in, {"predictions": [[y], ...]} out."""

import json
import os

import torch


def model_fn(model_dir):
    with open(os.path.join(model_dir, "meta.json")) as f:
        features = json.load(f)["features"]
    model = torch.nn.Linear(features, 1)
    model.load_state_dict(torch.load(os.path.join(model_dir, "model.pth")))
    return model.eval()
