"""Written for SageMaker PyTorch, multi-instance without a distribution setting: the script builds its own process
group from SM_HOSTS / SM_CURRENT_HOST (host names, one rank per instance) and checks an all-reduce."""
import json
import os

import torch
import torch.distributed as dist

hosts = json.loads(os.environ["SM_HOSTS"])
current_host = os.environ["SM_CURRENT_HOST"]
rank = hosts.index(current_host)
world_size = len(hosts)
port = os.environ.get("MASTER_PORT", "23456")
dist.init_process_group("gloo", init_method=f"tcp://{hosts[0]}:{port}", rank=rank, world_size=world_size)

value = torch.tensor([float(rank + 1)])
dist.all_reduce(value)
print(f"host {current_host} rank {rank}/{world_size} allreduce={value.item()}", flush=True)
if rank == 0:
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "allreduce.json"), "w") as f:
        json.dump({"world_size": world_size, "sum": value.item(), "hosts": hosts}, f)
dist.barrier()
dist.destroy_process_group()
