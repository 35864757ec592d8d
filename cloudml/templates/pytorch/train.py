"""Train a small PyTorch regression model. Runs unchanged on local, SageMaker, Vertex AI and Azure ML.

What cloudml's launcher gives this script (on every provider):
  CLOUDML_CHANNEL_TRAINING  folder holding the `training` input (job.yaml `inputs:`): CSV rows x1,...,xn,y
  CLOUDML_MODEL_DIR         write the trained model here; it becomes the artifact `cloudml deploy` serves
  CLOUDML_CHECKPOINT_DIR    files here survive a restart (e.g. a spot interruption): resume from them
  --epochs 20 --lr 0.01     the job's hyperparameters, as command-line arguments (also JSON in CLOUDML_HPS)
  WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT   when the job runs more than one process
"""

import argparse
import glob
import json
import os

import torch
import torch.distributed as dist
from model import build_model


def load_csv(folder):
    """All CSV files in `folder` as (features, targets) tensors; the last column is the target."""
    rows = []
    for path in sorted(glob.glob(os.path.join(folder, "*.csv"))):
        with open(path) as f:
            rows += [[float(v) for v in line.split(",")] for line in f if line.strip()]
    if not rows:
        raise SystemExit(f"no CSV rows found in {folder}")
    data = torch.tensor(rows, dtype=torch.float32)
    return data[:, :-1], data[:, -1:]


def save_checkpoint(path, model, opt, epoch):
    tmp = path + ".tmp"
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "epoch": epoch}, tmp)
    os.replace(tmp, path)  # never leave a half-written checkpoint behind


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=16)
    args, _ = parser.parse_known_args()  # ignore arguments meant for other tools

    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    if world > 1:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    device = torch.device(f"cuda:{os.environ.get('LOCAL_RANK', '0')}" if torch.cuda.is_available() else "cpu")

    x, y = load_csv(os.environ["CLOUDML_CHANNEL_TRAINING"])
    x, y = x[rank::world].to(device), y[rank::world].to(device)  # each process trains on its own shard
    torch.manual_seed(0)
    net = build_model(x.shape[1], args.hidden).to(device)
    model = torch.nn.parallel.DistributedDataParallel(net) if world > 1 else net
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)

    checkpoint = os.path.join(os.environ.get("CLOUDML_CHECKPOINT_DIR", "."), "checkpoint.pt")
    start = 0
    if os.path.exists(checkpoint):
        state = torch.load(checkpoint, map_location=device)
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        start = state["epoch"] + 1
        print(f"resumed from {checkpoint} after epoch {state['epoch']}", flush=True)

    for epoch in range(start, args.epochs):
        order = torch.randperm(len(x))
        total = 0.0
        for i in range(0, len(x), args.batch_size):
            batch = order[i:i + args.batch_size]
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x[batch]), y[batch])
            loss.backward()
            opt.step()
            total += loss.item() * len(batch)
        print(f"epoch {epoch} loss {total / len(x):.5f}", flush=True)
        if rank == 0:
            save_checkpoint(checkpoint, net, opt, epoch)

    if rank == 0:
        model_dir = os.environ["CLOUDML_MODEL_DIR"]
        torch.save(net.state_dict(), os.path.join(model_dir, "model.pth"))
        with open(os.path.join(model_dir, "meta.json"), "w") as f:
            json.dump({"features": x.shape[1], "hidden": args.hidden}, f)
        print(f"saved the model to {model_dir}", flush=True)
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
