"""Written for SageMaker script mode: SM_* variables and hyperparameters as arguments; no cloudml import."""
import argparse
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, required=True)
parser.add_argument("--model-dir", default=os.environ["SM_MODEL_DIR"])
parser.add_argument("--train", default=os.environ["SM_CHANNEL_TRAINING"])
parser.add_argument("--hosts", type=json.loads, default=os.environ["SM_HOSTS"])
parser.add_argument("--current-host", default=os.environ["SM_CURRENT_HOST"])
parser.add_argument("--num-gpus", type=int, default=int(os.environ["SM_NUM_GPUS"]))
args = parser.parse_args()
rows = sum(1 for name in os.listdir(args.train) for _ in open(os.path.join(args.train, name)))
report = {"epochs": args.epochs, "rows": rows, "hosts": args.hosts, "current_host": args.current_host,
          "num_gpus": args.num_gpus}
print("sm-style report " + json.dumps(report), flush=True)
with open(os.path.join(args.model_dir, "report.json"), "w") as f:
    json.dump(report, f)
