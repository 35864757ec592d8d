"""Each rank contributes rank+1; only a working process group makes every rank see the full sum."""
import json
import os

import torch
import torch.distributed as dist

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
value = torch.tensor([float(rank + 1)])
dist.all_reduce(value)
print(f"rank {rank}/{world} allreduce={value.item()}", flush=True)
if rank == 0:
    with open(os.path.join(os.environ["CLOUDML_MODEL_DIR"], "allreduce.json"), "w") as f:
        json.dump({"world": world, "sum": value.item()}, f)
dist.destroy_process_group()
