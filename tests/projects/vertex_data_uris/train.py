"""Written for Vertex AI custom training on a managed dataset: the splits arrive as AIP_*_DATA_URI wildcards,
everything is read and written through the Cloud Storage FUSE mount (gs://b/p -> /gcs/b/p)."""
import glob
import json
import os


def fuse(uri):
    return "/gcs/" + uri[len("gs://"):] if uri.startswith("gs://") else uri


def read(pattern):
    rows = []
    for path in sorted(glob.glob(fuse(pattern))):
        with open(path) as f:
            rows += [tuple(float(v) for v in line.split(",")) for line in f if line.strip()]
    return rows


assert os.environ["AIP_DATA_FORMAT"] == "csv", os.environ["AIP_DATA_FORMAT"]
train, validation = read(os.environ["AIP_TRAINING_DATA_URI"]), read(os.environ["AIP_VALIDATION_DATA_URI"])
n = len(train)
mean_x, mean_y = sum(x for x, _ in train) / n, sum(y for _, y in train) / n
w = sum((x - mean_x) * (y - mean_y) for x, y in train) / sum((x - mean_x) ** 2 for x, _ in train)
b = mean_y - w * mean_x
mse = sum((w * x + b - y) ** 2 for x, y in validation) / len(validation)

for var, name, body in (("AIP_CHECKPOINT_DIR", "checkpoint.json", {"w": w, "b": b}),
                        ("AIP_TENSORBOARD_LOG_DIR", "scalars.json", {"val_mse": mse}),
                        ("AIP_MODEL_DIR", "model.json", {"w": w, "b": b})):
    folder = fuse(os.environ[var])
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "w") as f:
        json.dump(body, f)
print("vertex-data report " + json.dumps({"train_rows": n, "validation_rows": len(validation),
                                          "val_mse": round(mse, 6), "w": round(w, 3)}), flush=True)
