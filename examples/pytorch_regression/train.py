"""Train a tiny PyTorch regression model on the cloudml runtime contract.

Reads CSV rows ``x1,...,xn,y`` from the ``training`` channel, fits a linear model with SGD, prints the loss each
epoch, checkpoints to CLOUDML_CHECKPOINT_DIR (and resumes from it), and saves ``model.pth`` + ``meta.json`` to
CLOUDML_MODEL_DIR. Hyperparameters arrive as ``--epochs``/``--lr`` arguments.
"""

import argparse
import glob
import json
import os

import torch


def load(channel):
    rows = []
    for path in sorted(glob.glob(os.path.join(channel, "*.csv"))):
        with open(path) as f:
            rows += [[float(v) for v in line.split(",")] for line in f if line.strip()]
    data = torch.tensor(rows, dtype=torch.float32)
    return data[:, :-1], data[:, -1:]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--lr", type=float, default=0.1)
    args, _ = parser.parse_known_args()
    x, y = load(os.environ["CLOUDML_CHANNEL_TRAINING"])
    torch.manual_seed(0)
    model = torch.nn.Linear(x.shape[1], 1)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    ckpt = os.path.join(os.environ["CLOUDML_CHECKPOINT_DIR"], "last.pt")
    start = 0
    if os.path.exists(ckpt):
        state = torch.load(ckpt)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        start = state["epoch"] + 1
        print(f"resumed from checkpoint at epoch {start}")
    for epoch in range(start, args.epochs):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        print(f"epoch {epoch} loss {loss.item():.6f}", flush=True)
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "epoch": epoch}, ckpt)
    model_dir = os.environ["CLOUDML_MODEL_DIR"]
    torch.save(model.state_dict(), os.path.join(model_dir, "model.pth"))
    with open(os.path.join(model_dir, "meta.json"), "w") as f:
        json.dump({"features": x.shape[1]}, f)


if __name__ == "__main__":
    main()
