"""Trains y = 2x + 1 with a tiny torch model; saves TorchScript model.pt to CLOUDML_MODEL_DIR (SageMaker style)."""
import argparse
import os

import torch

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=200)
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--fail", default="no")
args, _ = parser.parse_known_args()
if args.fail == "yes":
    raise SystemExit("asked to fail: bad learning rate schedule")

train_dir = os.environ.get("SM_CHANNEL_TRAIN")
xs = [float(line) for line in open(os.path.join(train_dir, "x.txt"))] if train_dir else [0.0, 1.0, 2.0, 3.0]
torch.manual_seed(0)
x = torch.tensor(xs).unsqueeze(1)
y = 2 * x + 1
model = torch.nn.Linear(1, 1)
opt = torch.optim.SGD(model.parameters(), lr=args.lr)
for _ in range(args.epochs):
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    opt.step()
print(f"final loss {loss.item():.6f} rank {os.environ.get('RANK')} world {os.environ.get('WORLD_SIZE')}")
if os.environ.get("RANK", "0") == "0":
    torch.jit.script(model).save(os.path.join(os.environ["SM_MODEL_DIR"], "model.pt"))
