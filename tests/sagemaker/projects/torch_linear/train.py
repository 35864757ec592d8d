"""A tiny PyTorch job: fits y = 2x + 1 (plus the rows of the optional 'train' channel) and saves TorchScript.

Runs as one process or under torchrun (gloo); with several ranks it checks the weights agree after training.
Hyperparameters: --epochs N, --lr F, --exit-code N (fail on purpose), --sleep S (stay busy, for stop tests).
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.distributed as dist

p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=60)
p.add_argument("--lr", type=float, default=0.1)
p.add_argument("--exit-code", type=int, default=0)
p.add_argument("--sleep", type=float, default=0)
args = p.parse_args()

world = int(os.environ.get("WORLD_SIZE", "1"))
rank = int(os.environ.get("RANK", "0"))
print(f"rank {rank}/{world} hps {os.environ.get('CLOUDML_HPS')} host {os.environ.get('SM_CURRENT_HOST')}", flush=True)
if args.sleep:
    print("sleeping", flush=True)
    time.sleep(args.sleep)
if args.exit_code:
    print("failing on purpose", flush=True)
    sys.exit(args.exit_code)
if world > 1:
    dist.init_process_group("gloo")

torch.manual_seed(0)
x = torch.linspace(-1, 1, 32).unsqueeze(1)
y = 2 * x + 1
channel = os.environ.get("CLOUDML_CHANNEL_TRAIN")
if channel:
    rows = [json.loads(line) for name in sorted(os.listdir(channel))
            for line in open(os.path.join(channel, name)) if line.strip()]
    print(f"read {len(rows)} rows from the train channel", flush=True)
    x = torch.cat([x, torch.tensor([[r[0]] for r in rows])])
    y = torch.cat([y, torch.tensor([[r[1]] for r in rows])])
model = torch.nn.Linear(1, 1)
if world > 1:
    model = torch.nn.parallel.DistributedDataParallel(model)
opt = torch.optim.SGD(model.parameters(), lr=args.lr)
shard = slice(rank, None, world)
for _epoch in range(args.epochs):
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x[shard]), y[shard])
    loss.backward()
    opt.step()
print(f"final loss {loss.item():.5f}", flush=True)
net = model.module if world > 1 else model
if world > 1:
    w = net.weight.detach().clone()
    gathered = [torch.zeros_like(w) for _ in range(world)]
    dist.all_gather(gathered, w)
    assert all(torch.equal(g, gathered[0]) for g in gathered), "weights differ across ranks"
    print(f"weights identical across {world} ranks", flush=True)
ckpt = os.environ.get("CLOUDML_CHECKPOINT_DIR")
if ckpt and rank == 0:
    with open(os.path.join(ckpt, "last.json"), "w") as f:
        json.dump({"epochs": args.epochs, "loss": loss.item()}, f)
if rank == 0:
    model_dir = os.environ["CLOUDML_MODEL_DIR"]
    torch.jit.script(net).save(os.path.join(model_dir, "model.pt"))
    print(f"saved model to {model_dir}", flush=True)
if world > 1:
    dist.destroy_process_group()
