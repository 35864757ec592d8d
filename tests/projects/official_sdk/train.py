"""A plain SageMaker script-mode training script, as the SageMaker Python SDK v2 docs write them (no cloudml):
hyperparameters as arguments, data from SM_CHANNEL_TRAINING, the model to SM_MODEL_DIR. Fits y = a*x + b by least
squares (no framework needed) and records what it was given."""
import argparse
import json
import os
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=1)
parser.add_argument("--optimizer", type=str, default="sgd")
parser.add_argument("--use-bias", type=str, default="False")
parser.add_argument("--model-dir", type=str, default=os.environ.get("SM_MODEL_DIR"))
parser.add_argument("--train", type=str, default=os.environ.get("SM_CHANNEL_TRAINING"))
args, _ = parser.parse_known_args()

xs, ys = [], []
for name in sorted(os.listdir(args.train)):
    with open(os.path.join(args.train, name)) as f:
        for line in f:
            if line.strip():
                x, y = (float(v) for v in line.split(","))
                xs.append(x)
                ys.append(y)
n = len(xs)
mx, my = sum(xs) / n, sum(ys) / n
a = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
b = my - a * mx
report = {"argv": sys.argv[1:], "epochs": args.epochs, "optimizer": args.optimizer, "use_bias": args.use_bias,
          "rows": n, "a": a, "b": b, "job_name": os.environ.get("TRAINING_JOB_NAME"),
          "sm_hps": json.loads(os.environ.get("SM_HPS", "{}")), "cwd": os.getcwd()}
print("official-sdk report " + json.dumps(report), flush=True)
with open(os.path.join(args.model_dir, "model.json"), "w") as f:
    json.dump({"a": a, "b": b}, f)
