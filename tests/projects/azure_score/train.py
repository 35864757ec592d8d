"""Written for Azure ML: the data path arrives as --data ${{inputs.training}}; the model and the logs go to
./outputs and ./logs, which Azure ML keeps as the job's outputs."""
import argparse
import glob
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("--data", type=str, required=True)
parser.add_argument("--learning-rate", type=float, default=0.5)
parser.add_argument("--epochs", type=int, default=200)
args = parser.parse_args()

rows = []
for path in sorted(glob.glob(os.path.join(args.data, "*.csv"))):
    with open(path) as f:
        rows += [tuple(float(v) for v in line.split(",")) for line in f if line.strip()]
w = b = 0.0
with open(os.path.join("logs", "train.log"), "w") as log:
    for epoch in range(args.epochs):
        gw = sum(2 * (w * x + b - y) * x for x, y in rows) / len(rows)
        gb = sum(2 * (w * x + b - y) for x, y in rows) / len(rows)
        w, b = w - args.learning_rate * gw, b - args.learning_rate * gb
        if epoch % 50 == 0:
            log.write(f"epoch {epoch} w={w:.4f} b={b:.4f}\n")
os.makedirs("outputs", exist_ok=True)
with open(os.path.join("outputs", "model.json"), "w") as f:
    json.dump({"w": w, "b": b}, f)
print(f"azure-outputs trained on {len(rows)} rows from {args.data}: w={w:.3f} b={b:.3f}", flush=True)
