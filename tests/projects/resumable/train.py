"""A slow PyTorch job that checkpoints after every epoch and resumes from CLOUDML_CHECKPOINT_DIR.

Checkpoints are ``ckpt-N.pt`` (N = epochs completed), written to a temporary name and renamed, so the newest
file is always complete. Logs ``resumed from checkpoint at epoch N`` or ``starting at epoch 0``, then
``epoch E loss L`` per epoch. Hyperparameters: ``--epochs``, ``--sleep`` (seconds per epoch).
"""
import argparse
import glob
import os
import re
import time

import torch

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=30)
parser.add_argument("--sleep", type=float, default=0.25)
args, _ = parser.parse_known_args()

ckpt_dir = os.environ["CLOUDML_CHECKPOINT_DIR"]
torch.manual_seed(0)
x = torch.linspace(-1, 1, 100).unsqueeze(1)
y = 2 * x + 1
model = torch.nn.Linear(1, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.05)


def done(path):
    return int(re.search(r"ckpt-(\d+)\.pt$", path).group(1))


saved = sorted(glob.glob(os.path.join(ckpt_dir, "ckpt-*.pt")), key=done)
start = 0
if saved:
    state = torch.load(saved[-1])
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    start = done(saved[-1])
    print(f"resumed from checkpoint at epoch {start}", flush=True)
else:
    print("starting at epoch 0", flush=True)
for epoch in range(start, args.epochs):
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    opt.step()
    time.sleep(args.sleep)
    path = os.path.join(ckpt_dir, f"ckpt-{epoch + 1}.pt")
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, path + ".tmp")
    os.replace(path + ".tmp", path)
    for old in saved:
        os.remove(old)
    saved = [path]
    print(f"epoch {epoch} loss {loss.item():.6f}", flush=True)
torch.save(model.state_dict(), os.path.join(os.environ["CLOUDML_MODEL_DIR"], "model.pth"))
