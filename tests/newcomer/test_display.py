"""Issue 17: jobs, endpoints and cost plans display as HTML tables in notebooks (escaped, secrets masked)."""

from __future__ import annotations

from cloudml.cost import Workload, plan_for
from cloudml.display import Rows
from cloudml.providers.base import EndpointInfo, EndpointState, JobInfo, JobState
from cloudml.spec import Resources


def test_job_html_is_escaped_and_masked() -> None:
    info = JobInfo(name="train-<1>", provider="local", state=JobState.COMPLETED, instance_type="local",
                   hyperparameters={"db_password": "hunter2", "lr": 0.1})
    text = info._repr_html_()
    assert "<table" in text and "train-&lt;1&gt;" in text and "Completed" in text and "hunter2" not in text


def test_lists_of_endpoints_and_plans_render_as_one_table() -> None:
    eps = Rows([EndpointInfo(name=f"ep-{i}", provider="local", state=EndpointState.IN_SERVICE,
                             url=f"http://127.0.0.1:{9000 + i}") for i in range(3)])
    text = eps._repr_html_()
    assert text.count("<tr>") == 4 and "ep-2" in text and "http://127.0.0.1:9002" in text
    plans = plan_for(Resources(accelerator="A100:8"), ["sagemaker"], workload=Workload(hours=1))
    text = Rows(plans[:3])._repr_html_()
    assert text.count("<tr>") == 4 and "A100 x8" in text and plans[0]._repr_html_().count("<tr>") == 2
