"""DDP with different data on every rank: the same x, but rank r fits y = (2 + r) x + 1.

Alone, rank r would learn slope 2 + r; only gradients averaged across all ranks give every rank the same
weights, at the pooled least-squares solution (slope = mean of the ranks' slopes, intercept 1). Each rank
starts from its own random weights (DDP broadcasts rank 0's) and prints its final weights and their checksum.
"""
import hashlib
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
torch.manual_seed(rank)
model = DistributedDataParallel(torch.nn.Linear(1, 1))
x = torch.linspace(-1, 1, 64).unsqueeze(1)
y = (2.0 + rank) * x + 1.0
opt = torch.optim.SGD(model.parameters(), lr=0.5)
for _ in range(150):
    opt.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    opt.step()
weights = torch.cat([p.detach().flatten() for p in model.parameters()])
checksum = hashlib.sha256(weights.numpy().tobytes()).hexdigest()[:16]
print(f"rank {rank}/{world} local_rank {os.environ['LOCAL_RANK']} host {os.environ['CLOUDML_CURRENT_HOST']} "
      f"slope_target {2 + rank} weights {weights.tolist()} checksum {checksum}", flush=True)
dist.destroy_process_group()
