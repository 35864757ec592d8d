"""Property tests: whatever machine/accelerator text a user writes, the Vertex machine resolver returns a valid
machineSpec or a ValidationError -- never another exception, never a request."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from cloudml.accelerators import ACCELERATORS
from cloudml.errors import ValidationError
from cloudml.providers import _vertex_requests as req
from cloudml.providers._vertex_machines import (
    BUNDLED_GPU_MACHINES,
    CLOUD_TPU,
    TPU_MACHINES,
    Machine,
    choose_machine,
)

MACHINES = [*BUNDLED_GPU_MACHINES, *TPU_MACHINES, CLOUD_TPU, "n1-standard-8", "n1-highmem-16", "e2-standard-4",
            "n2-standard-32", "ml.p3.2xlarge", "Standard_NC6s_v3", "local"]
instance_types = st.one_of(st.none(), st.sampled_from(MACHINES), st.text(max_size=30))
accelerators = st.one_of(
    st.none(),
    st.builds(lambda n, c: f"{n}:{c}", st.sampled_from(sorted(ACCELERATORS) + ["tpu-v5e", "a100", "h100"]),
              st.integers(min_value=-2, max_value=20)),
    st.sampled_from(sorted(ACCELERATORS)),
    st.text(max_size=20),
)


@settings(max_examples=1000, deadline=None)
@given(instance_types, accelerators)
def test_machine_resolution_is_total(instance_type, accelerator):
    from google.cloud import aiplatform_v1

    try:
        machine = choose_machine(instance_type, accelerator)
    except ValidationError as exc:
        assert exc.field in ("resources.instance_type", "resources.accelerator")
        return
    assert isinstance(machine, Machine)
    spec = machine.machine_spec()
    aiplatform_v1.MachineSpec.from_json(json.dumps(spec))
    if machine.kind == "tpu" and machine.machine_type != CLOUD_TPU:
        assert "acceleratorType" not in spec and spec["tpuTopology"]
    if machine.kind == "gpu":
        assert spec["acceleratorCount"] >= 1


@settings(max_examples=1000, deadline=None)
@given(st.dictionaries(st.text(max_size=80), st.text(max_size=80), max_size=80))
def test_any_tags_become_valid_labels(tags):
    labels = req.labels(1767225600, {}, tags, cloudml_job="Some-Job_Name")
    assert len(labels) <= 64 and labels["cloudml-job"] == "some-job_name" and "cloudml-created" in labels
    for key, value in labels.items():
        assert 1 <= len(key) <= 63 and key[0].isalpha() and key.islower() or key[0] == "x"
        assert len(value) <= 63 and all(c.islower() or c.isdigit() or c in "_-" for c in key + value)
