"""The network, shared by train.py (training) and inference.py (serving)."""

import torch


def build_model(features: int, hidden: int) -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(features, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, 1),
    )
