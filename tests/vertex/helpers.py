"""Drive the Vertex provider the way the Estimator does (spec -> validate -> bundle -> submit -> poll)."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import Any

from cloudml import packaging
from cloudml.providers.base import JobInfo
from cloudml.spec import Resources, SourceCode, TrainingSpec, make_job_name

# A model that needs no framework: y = w * x, w learned by least squares; saved as JSON.
PLAIN_TRAIN = '''
import argparse, json, os, sys
p = argparse.ArgumentParser()
p.add_argument("--scale", type=float, default=1.0)
p.add_argument("--fail", default="no")
a, _ = p.parse_known_args()
if a.fail == "yes":
    raise ValueError("boom: asked to fail")
data = os.environ.get("SM_CHANNEL_TRAIN")
xs = [1.0, 2.0, 3.0]
if data:
    with open(os.path.join(data, "points.json")) as f:
        xs = json.load(f)
w = 2.0 * a.scale
out = os.environ["SM_MODEL_DIR"]
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "model.json"), "w") as f:
    json.dump({"w": w, "n": len(xs), "rank": os.environ.get("RANK"), "world": os.environ.get("WORLD_SIZE")}, f)
print("trained w =", w, "on", len(xs), "points", flush=True)
'''

PLAIN_INFERENCE = '''
import json, os
def model_fn(model_dir):
    with open(os.path.join(model_dir, "model.json")) as f:
        return json.load(f)
def predict_fn(data, model):
    return [[model["w"] * x for x in row] for row in data]
'''


def project(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


def spec_for(src: Path, entry: str = "train.py", **kw: Any) -> TrainingSpec:
    kw.setdefault("framework_version", "2.4")
    kw.setdefault("resources", Resources(instance_type="n1-standard-4"))
    return TrainingSpec(source=SourceCode(entry, str(src)), job_name=make_job_name("t"), **kw)


def submit(provider: Any, spec: TrainingSpec, tmp: Path) -> JobInfo:
    spec.validate(provider.storage_schemes)
    provider.check_features(spec)
    provider.validate(spec)
    bundle = packaging.build(spec.source.source_dir, tmp / "bundles", entry_point=spec.source.entry_point)
    return provider.submit(spec, bundle)


def wait(provider: Any, name: str, timeout: float = 120) -> JobInfo:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = provider.describe_job(name)
        if info.state.terminal:
            return info
        time.sleep(0.2)
    raise AssertionError(f"job {name} did not finish in {timeout}s")
