"""TensorFlow on the Vertex rig (issue 7): a Keras model trains in the contract runner, exports a SavedModel to the
artifact root, is served by the prebuilt TF prediction image (the rig stands in with cloudml's adapter over the same
artifact) and returns the in-process model's predictions. Also: checkpoints under a gs:// checkpoint_uri survive
from one job to the next (the spot-restart contract)."""

from __future__ import annotations

import json

import pytest

from cloudml.providers.base import JobState
from cloudml.spec import DeploySpec
from tests.vertex.helpers import project, spec_for, submit, wait

KERAS_TRAIN = '''
import json, os
import numpy as np
import keras
x = np.linspace(-1, 1, 64, dtype="float32").reshape(-1, 1)
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.SGD(0.3), loss="mse")
model.fit(x, 2 * x + 1, epochs=30, verbose=0)
out = os.environ["CLOUDML_MODEL_DIR"]
model.export(out)                       # saved_model.pb at the artifact root, as Vertex's TF image expects
probe = [[0.0], [1.0], [2.0]]
with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(model.predict(np.array(probe, dtype="float32"), verbose=0).tolist(), f)
print("exported to", out, flush=True)
'''

CHECKPOINTED = '''
import json, os
path = os.path.join(os.environ["CLOUDML_CHECKPOINT_DIR"], "state.json")
state = json.load(open(path)) if os.path.exists(path) else {"runs": 0}
print("resumed after", state["runs"], "runs", flush=True)
state["runs"] += 1
json.dump(state, open(path, "w"))
open(os.path.join(os.environ["CLOUDML_MODEL_DIR"], "done"), "w").close()
'''


@pytest.mark.slow
def test_keras_savedmodel_serves_from_the_artifact_root(vertex_provider, vertex_rig, gcs_emulator, tmp_path):
    src = project(tmp_path / "keras", {"train.py": KERAS_TRAIN})
    spec = spec_for(src, framework="tensorflow", framework_version="2.15")
    submit(vertex_provider, spec, tmp_path)
    info = wait(vertex_provider, spec.job_name, timeout=300)
    assert info.state == JobState.COMPLETED, info.reason
    names = gcs_emulator.objects(info.model_uri[len(f"gs://{gcs_emulator.bucket}/"):])
    assert any(n.endswith("/model/saved_model.pb") for n in names)
    ep = vertex_provider.deploy(DeploySpec(model_uri=info.model_uri, framework="tensorflow", framework_version="2.15",
                                           instance_type="n1-standard-4", endpoint_name="keras-ep"))
    try:
        model = vertex_rig.calls("POST", r"/models:upload$")[-1].body["model"]
        assert model["containerSpec"] == {"imageUri": "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"}
        assert model["artifactUri"] == info.model_uri
        out = json.loads(vertex_provider.invoke(ep.name, json.dumps({"instances": [[0.0], [1.0], [2.0]]}).encode()))
        expected = json.loads(vertex_provider.clients.storage.read_text(info.model_uri + "expected.json"))
        served = [row[0] for row in out["predictions"]]
        assert served == pytest.approx([row[0] for row in expected], abs=1e-5), "the trained model is served"
        assert served == pytest.approx([1.0, 3.0, 5.0], abs=0.2)
    finally:
        vertex_provider.delete_endpoint(ep.name)


def test_checkpoints_under_checkpoint_uri_carry_over(vertex_provider, gcs_emulator, tmp_path):
    src = project(tmp_path / "ckpt", {"train.py": CHECKPOINTED})
    ckpt = f"gs://{gcs_emulator.bucket}/checkpoints/{tmp_path.name}/"
    seen = []
    for _ in range(2):
        spec = spec_for(src, checkpoint_uri=ckpt)
        submit(vertex_provider, spec, tmp_path)
        assert wait(vertex_provider, spec.job_name).state == JobState.COMPLETED
        lines, _ = vertex_provider.read_logs(spec.job_name)
        seen += [line for line in lines if "resumed after" in line]
    assert seen == ["resumed after 0 runs", "resumed after 1 runs"]
    assert f"checkpoints/{tmp_path.name}/state.json" in gcs_emulator.objects(f"checkpoints/{tmp_path.name}/")
