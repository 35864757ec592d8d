"""Written for Vertex AI custom training: writes to AIP_MODEL_DIR (gs:// read through the /gcs/ mount)."""
import json
import os

model_dir = os.environ["AIP_MODEL_DIR"]
if model_dir.startswith("gs://"):
    model_dir = "/gcs/" + model_dir[len("gs://"):]
os.makedirs(model_dir, exist_ok=True)
with open(os.path.join(model_dir, "report.json"), "w") as f:
    json.dump({"written_by": "vertex-style script"}, f)
print("vertex-style script wrote", model_dir, flush=True)
