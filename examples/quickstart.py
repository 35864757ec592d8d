"""cloudml quick start on the local provider: train, deploy, predict, clean up, compare cloud costs.

Runs with no cloud account: the `local` provider bundles examples/pytorch_regression exactly as it would for
SageMaker, runs it through the same launcher, and serves the model over HTTP on 127.0.0.1.
"""

import random
import subprocess
import sys
import tempfile
from pathlib import Path

from cloudml import Estimator

HERE = Path(__file__).resolve().parent


def make_data(folder: Path) -> Path:
    rng = random.Random(0)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "train.csv", "w") as f:
        for _ in range(500):
            x1, x2 = rng.uniform(-1, 1), rng.uniform(-1, 1)
            f.write(f"{x1:.5f},{x2:.5f},{3 * x1 - 2 * x2 + 0.5 + rng.gauss(0, 0.01):.5f}\n")
    return folder


def main() -> None:
    data = make_data(Path(tempfile.mkdtemp(prefix="cloudml-demo-")) / "train")
    est = Estimator(
        "train.py", HERE / "pytorch_regression", framework="pytorch", provider="local",
        hyperparameters={"epochs": 60, "lr": 0.3},
    )
    print("== training on the local provider")
    job = est.fit({"training": str(data)})
    info = job.describe()
    print(f"== job {info.name}: {info.state.value} in {info.billable_seconds:.1f}s; model at {info.model_uri}")

    print("== deploying to a local HTTP endpoint")
    with est.deploy() as endpoint:
        print(f"   serving at {endpoint.url}")
        rows = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]
        predictions = endpoint.predict({"instances": rows})["predictions"]
        for row, (pred,) in zip(rows, predictions):
            print(f"   f({row}) = {pred:.3f}   (true {3 * row[0] - 2 * row[1] + 0.5:.3f})")
    print("== endpoint deleted")

    print("== what the same job would cost in the cloud: 10 hours on one A100")
    cmd = [sys.executable, "-m", "cloudml", "cost", "compare", "--accelerator", "A100:1", "--hours", "10"]
    result = subprocess.run(cmd)
    if result.returncode not in (0, 3):
        sys.exit(result.returncode)


if __name__ == "__main__":
    main()
