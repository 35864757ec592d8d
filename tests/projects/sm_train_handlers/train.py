"""Written for SageMaker: training and the serving handlers in one file, no inference.py (deploy() serves the
training entry point; the __main__ guard keeps the serving container from training)."""
import argparse
import glob
import json
import os


def model_fn(model_dir):
    with open(os.path.join(model_dir, "model.json")) as f:
        return json.load(f)


def predict_fn(data, model):
    return [[model["w"] * row[0] + model["b"]] for row in data]


def train(args):
    rows = []
    for path in sorted(glob.glob(os.path.join(args.train, "*.csv"))):
        with open(path) as f:
            rows += [tuple(float(v) for v in line.split(",")) for line in f if line.strip()]
    w, b = 0.0, 0.0
    for _ in range(args.epochs):
        gw = sum(2 * (w * x + b - y) * x for x, y in rows) / len(rows)
        gb = sum(2 * (w * x + b - y) for x, y in rows) / len(rows)
        w, b = w - args.lr * gw, b - args.lr * gb
    with open(os.path.join(args.model_dir, "model.json"), "w") as f:
        json.dump({"w": w, "b": b}, f)
    print(f"trained w={w:.3f} b={b:.3f}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--model-dir", type=str, default=os.environ["SM_MODEL_DIR"])
    parser.add_argument("--train", type=str, default=os.environ["SM_CHANNEL_TRAINING"])
    train(parser.parse_args())
