"""Vertex-specific behaviour on the rig: what reaches the wire, what lands in GCS, faults survived, nothing left.
Uses framework-free scripts (``helpers.PLAIN_*``) so each job takes well under a second."""

from __future__ import annotations

import json
import tarfile
import time
from pathlib import Path

import pytest

from cloudml.errors import CapacityError, ConfigurationError, EndpointError, NotFoundError
from cloudml.providers.base import JobState
from cloudml.providers.vertex import VertexProvider
from cloudml.spec import DeploySpec, Resources, SourceCode
from tests.rigs.gcs import free_port
from tests.vertex.helpers import PLAIN_INFERENCE, PLAIN_TRAIN, project, spec_for, submit, wait

PROJECTS = Path(__file__).resolve().parents[1] / "projects"


@pytest.fixture
def src(tmp_path):
    return project(tmp_path / "src", {"train.py": PLAIN_TRAIN, "inference.py": PLAIN_INFERENCE})


def test_job_moves_through_states_and_streams_logs_once(vertex_provider, vertex_rig, src, tmp_path):
    spec = spec_for(src)
    vertex_rig.release.clear()            # hold the job in PENDING
    info = submit(vertex_provider, spec, tmp_path)
    assert vertex_provider.describe_job(spec.job_name).state == JobState.PENDING == info.state
    lines, cursor = vertex_provider.read_logs(spec.job_name)
    assert lines == [f"[vertex] {spec.job_name}: JOB_STATE_PENDING"]
    vertex_rig.release.set()
    done = wait(vertex_provider, spec.job_name)
    assert done.state == JobState.COMPLETED and done.started_at and done.ended_at >= done.started_at
    more, cursor = vertex_provider.read_logs(spec.job_name, cursor)
    assert "trained w = 2.0 on 3 points" in more
    assert more[-1] == f"[vertex] {spec.job_name}: JOB_STATE_SUCCEEDED"
    again, cursor = vertex_provider.read_logs(spec.job_name, cursor)
    assert again == [], "no line is returned twice"
    job_id = info.extra["resource_name"].rsplit("/", 1)[-1]
    newest = max(e["timestamp"] for e in vertex_rig.state.logs[job_id])
    late = newest[:17] + f"{max(0, int(newest[17:19]) - 5):02d}" + newest[19:]   # 5 s older than the newest
    vertex_rig.log(job_id, "workerpool0-0", "a line Cloud Logging ingested late", timestamp=late)
    late_lines, cursor = vertex_provider.read_logs(spec.job_name, cursor)
    assert late_lines == ["a line Cloud Logging ingested late"]
    assert vertex_provider.read_logs(spec.job_name, cursor)[0] == []
    entries = vertex_rig.calls("POST", r"^/v2/entries:list$")
    assert 'resource.type="ml_job"' in entries[-1].body["filter"]


def test_failure_reason_comes_from_the_launcher_and_exit_code_from_vertex(vertex_provider, src, tmp_path):
    spec = spec_for(src, hyperparameters={"fail": "yes"})
    submit(vertex_provider, spec, tmp_path)
    info = wait(vertex_provider, spec.job_name)
    assert info.state == JobState.FAILED
    assert info.exit_code == 1
    assert info.reason.startswith("AlgorithmError: train.py exited with code 1")
    lines, _ = vertex_provider.read_logs(spec.job_name)
    assert any("ValueError: boom: asked to fail" in line for line in lines)


def test_without_cloud_logging_the_failure_tail_is_shown(vertex_options, src, tmp_path):
    provider = VertexProvider(**{**vertex_options, "logging_endpoint": f"http://127.0.0.1:{free_port()}",
                                 "timeout": 2})
    spec = spec_for(src, hyperparameters={"fail": "yes"})
    submit(provider, spec, tmp_path)
    wait(provider, spec.job_name)
    lines, cursor = provider.read_logs(spec.job_name)
    assert lines[0].startswith("[vertex] Cloud Logging unavailable")
    assert any("ValueError: boom" in line for line in lines)
    assert cursor["logging"] is False


def test_cancel_pending_and_stop_is_a_noop_when_finished(vertex_provider, vertex_rig, src, tmp_path):
    spec = spec_for(src)
    vertex_rig.release.clear()
    submit(vertex_provider, spec, tmp_path)
    vertex_provider.stop_job(spec.job_name)
    info = wait(vertex_provider, spec.job_name)
    assert info.state == JobState.STOPPED
    assert vertex_rig.calls("POST", r"customJobs/\d+:cancel$")
    vertex_provider.stop_job(spec.job_name)   # terminal: nothing sent
    assert len(vertex_rig.calls("POST", r"customJobs/\d+:cancel$")) == 1


def test_attach_from_a_fresh_provider(vertex_options, vertex_provider, src, tmp_path):
    spec = spec_for(src, hyperparameters={"scale": 3, "tag": "a b"}, resources=Resources(accelerator="T4:1"),
                    instance_count=2, distribution="none")
    submit(vertex_provider, spec, tmp_path)
    wait(vertex_provider, spec.job_name)
    info = VertexProvider(**vertex_options).describe_job(spec.job_name)
    assert (info.framework, info.framework_version, info.entry_point) == ("pytorch", "2.4", "train.py")
    assert info.hyperparameters == {"scale": 3, "tag": "a b"}
    assert (info.instance_type, info.instance_count) == ("n1-standard-8", 2)
    assert info.extra["accelerator"] == "NVIDIA_TESLA_T4"
    assert info.code_uri.startswith("gs://") and info.code_uri.endswith(".tar.gz")
    with pytest.raises(NotFoundError):
        vertex_provider.describe_job("no-such-job")


def test_vertex_style_script_reads_aip_model_dir(vertex_provider, gcs_emulator, tmp_path):
    from tests.rigs._vertex_runner import can_bind_gcs

    if not can_bind_gcs():
        pytest.skip("this machine cannot give replicas a private /gcs mount (needs root and unshare)")
    spec = spec_for(PROJECTS / "vertex_style")
    submit(vertex_provider, spec, tmp_path)
    info = wait(vertex_provider, spec.job_name)
    assert info.state == JobState.COMPLETED, info.reason
    report = info.model_uri[len(f"gs://{gcs_emulator.bucket}/"):] + "report.json"
    blob = gcs_emulator.client().bucket(gcs_emulator.bucket).blob(report)
    assert json.loads(blob.download_as_bytes()) == {"written_by": "vertex-style script"}


def test_refit_of_unchanged_code_and_data_uploads_nothing(vertex_provider, gcs_emulator, src, tmp_path):
    data = project(tmp_path / "data", {"points.json": "[1, 2, 3, 4]"})
    first = spec_for(src, channels={"train": str(data)})
    submit(vertex_provider, first, tmp_path)
    assert wait(vertex_provider, first.job_name).state == JobState.COMPLETED
    staged = gcs_emulator.objects("cloudml/code/") | gcs_emulator.objects("cloudml/data/")
    assert any(name.endswith("/points.json") for name in staged)
    second = spec_for(src, channels={"train": str(data)})
    submit(vertex_provider, second, tmp_path)
    assert gcs_emulator.objects("cloudml/code/") | gcs_emulator.objects("cloudml/data/") == staged
    info = wait(vertex_provider, second.job_name)
    assert info.state == JobState.COMPLETED
    lines, _ = vertex_provider.read_logs(second.job_name)
    assert "trained w = 2.0 on 4 points" in lines, "the job read the uploaded channel"


def test_a_create_whose_response_is_lost_makes_one_job(vertex_provider, vertex_rig, src, tmp_path):
    vertex_rig.inject("POST", r"/customJobs$", 503, "backend unavailable", after=True)
    spec = spec_for(src)
    info = submit(vertex_provider, spec, tmp_path)
    assert info.name == spec.job_name
    assert len(vertex_rig.calls("POST", r"/customJobs$")) == 1, "found by display name, not created again"
    jobs = [j for j in vertex_rig.state.jobs.values() if j["displayName"] == spec.job_name]
    assert len(jobs) == 1
    assert submit(vertex_provider, spec, tmp_path).extra["resource_name"] == jobs[0]["name"]  # idempotent


def test_transient_faults_are_retried(vertex_provider, vertex_rig, src, tmp_path):
    vertex_rig.inject("POST", r"/customJobs$", 500, "internal error")
    vertex_rig.inject("GET", r"/customJobs/\d+$", 429, "Quota exceeded for quota metric 'Resource management "
                      "(CRUD) requests' and limit 'CRUD requests per minute per region'", times=2)
    spec = spec_for(src)
    submit(vertex_provider, spec, tmp_path)
    assert wait(vertex_provider, spec.job_name).state == JobState.COMPLETED
    assert len([j for j in vertex_rig.state.jobs.values() if j["displayName"] == spec.job_name]) == 1
    assert not vertex_rig.faults, "every injected fault was hit"


def test_quota_refusal_is_a_capacity_error_naming_the_machine(vertex_provider, vertex_rig, src, tmp_path):
    vertex_rig.inject("POST", r"/customJobs$", 429, "The following quota metrics exceed quota limits: "
                      "aiplatform.googleapis.com/custom_model_training_nvidia_a100_gpus", status="RESOURCE_EXHAUSTED")
    spec = spec_for(src, resources=Resources(accelerator="A100:1"))
    with pytest.raises(CapacityError) as caught:
        submit(vertex_provider, spec, tmp_path)
    assert caught.value.instance_type == "a2-highgpu-1g" and "a2-highgpu-1g" in str(caught.value)
    assert "nvidia_a100_gpus" in caught.value.reason
    assert len(vertex_rig.calls("POST", r"/customJobs$")) == 1, "capacity errors are not retried"
    assert not [j for j in vertex_rig.state.jobs.values() if j["displayName"] == spec.job_name]


def test_unreachable_api_fails_within_the_timeout(vertex_options, src, tmp_path):
    provider = VertexProvider(**{**vertex_options, "api_endpoint": f"http://127.0.0.1:{free_port()}", "timeout": 2})
    started = time.monotonic()
    with pytest.raises(ConfigurationError, match="could not reach the Vertex AI API"):
        provider.describe_job("anything")
    assert time.monotonic() - started < 5


def test_a_hung_api_fails_within_the_timeout(vertex_options, vertex_rig):
    vertex_rig.inject("GET", r"/customJobs$", 503, delay=1.5, times=10)
    provider = VertexProvider(**{**vertex_options, "timeout": 1})
    started = time.monotonic()
    with pytest.raises(ConfigurationError):
        provider.describe_job("anything")
    assert time.monotonic() - started < 5


def test_every_resource_is_labelled_and_settings_pass_through(vertex_options, vertex_rig, src, tmp_path):
    opts = {**vertex_options, "labels": {"team": "vision"}, "service_account": "trainer@p.iam.gserviceaccount.com",
            "network": "projects/123/global/networks/ml", "kms_key_name": "projects/p/locations/l/keyRings/r/cryptoKeys/k"}
    provider = VertexProvider(**opts)
    spec = spec_for(src, tags={"owner": "ana"}, resources=Resources(instance_type="n1-standard-4", spot=True))
    submit(provider, spec, tmp_path)
    job = vertex_rig.calls("POST", r"/customJobs$")[-1].body
    assert job["labels"]["cloudml-job"] == spec.job_name.lower() and job["labels"]["cloudml-created"].isdigit()
    assert (job["labels"]["team"], job["labels"]["owner"]) == ("vision", "ana")
    assert job["jobSpec"]["serviceAccount"] == opts["service_account"]
    assert job["jobSpec"]["network"] == opts["network"]
    assert job["encryptionSpec"] == {"kmsKeyName": opts["kms_key_name"]}
    assert job["jobSpec"]["scheduling"]["strategy"] == 4, "enums travel as ints"
    assert job["jobSpec"]["workerPoolSpecs"][0]["replicaCount"] == "1", "int64 travels as a string"
    info = wait(provider, spec.job_name)
    assert info.spot
    provider.deploy(DeploySpec(model_uri=info.model_uri, source=SourceCode("inference.py", str(src)),
                               framework_version="2.4", endpoint_name="labelled", ttl_seconds=3600))
    try:
        model = vertex_rig.calls("POST", r"/models:upload$")[-1].body["model"]
        endpoint = vertex_rig.calls("POST", r"/endpoints$")[-1].body
        deploy = vertex_rig.calls("POST", r"/endpoints/labelled:deployModel$")[-1].body
        for body in (model, endpoint):
            assert body["labels"]["cloudml-endpoint"] == "labelled" and "cloudml-created" in body["labels"]
            assert body["encryptionSpec"] == {"kmsKeyName": opts["kms_key_name"]}
            created, expires = int(body["labels"]["cloudml-created"]), int(body["labels"]["cloudml-expires"])
            assert expires - created == 3600, "ttl recorded for `cloudml cleanup`"
        assert deploy["deployedModel"]["serviceAccount"] == opts["service_account"]
        assert [e.name for e in provider.list_endpoints()] == ["labelled"]
        assert spec.job_name in [j.name for j in provider.list_jobs()]
    finally:
        provider.delete_endpoint("labelled")


def test_a_failed_deploy_deletes_what_it_created(vertex_provider, vertex_rig, src, tmp_path):
    spec = spec_for(src)
    submit(vertex_provider, spec, tmp_path)
    info = wait(vertex_provider, spec.job_name)
    vertex_rig.inject("POST", r":deployModel$", 400, "machine type not available in region",
                      status="FAILED_PRECONDITION")
    with pytest.raises(Exception, match="machine type not available"):
        vertex_provider.deploy(DeploySpec(model_uri=info.model_uri, source=SourceCode("inference.py", str(src)),
                                          framework_version="2.4", endpoint_name="rolled-back"))
    assert vertex_rig.leftovers()["models"] == [] and vertex_rig.leftovers()["endpoints"] == []
    broken = project(tmp_path / "broken", {"inference.py": "def model_fn(d):\n    raise RuntimeError('no model')\n"})
    with pytest.raises(Exception, match="never became ready"):
        vertex_provider.deploy(DeploySpec(model_uri=info.model_uri, source=SourceCode("inference.py", str(broken)),
                                          framework_version="2.4", endpoint_name="broken"))
    assert vertex_rig.leftovers()["models"] == [] and vertex_rig.leftovers()["endpoints"] == []


def test_predict_errors_and_content_types(vertex_provider, src, tmp_path):
    spec = spec_for(src)
    submit(vertex_provider, spec, tmp_path)
    info = wait(vertex_provider, spec.job_name)
    vertex_provider.deploy(DeploySpec(model_uri=info.model_uri, source=SourceCode("inference.py", str(src)),
                                      framework_version="2.4", endpoint_name="errs", min_replicas=1, max_replicas=2))
    try:
        described = vertex_provider.describe_endpoint("errs")
        assert (described.instance_type, described.min_replicas, described.max_replicas) == ("n1-standard-4", 1, 2)
        assert described.model_uri == info.model_uri
        assert json.loads(vertex_provider.invoke("errs", b"[[1.0], [2.0]]")) == {"predictions": [[2.0], [4.0]]}
        with pytest.raises(EndpointError) as caught:
            vertex_provider.invoke("errs", json.dumps({"instances": ["not numbers"]}).encode())
        assert caught.value.status == 400 and "TypeError" in str(caught.value)  # the input did not fit
        with pytest.raises(EndpointError) as caught:
            vertex_provider.invoke("errs", b"1,2", content_type="text/csv")
        assert caught.value.status == 415
        with pytest.raises(EndpointError) as caught:
            vertex_provider.invoke("missing-endpoint", b"[[1]]")
        assert caught.value.status == 404
    finally:
        vertex_provider.delete_endpoint("errs")


def test_download_and_deploy_from_a_local_model(vertex_provider, vertex_rig, src, tmp_path):
    spec = spec_for(src)
    submit(vertex_provider, spec, tmp_path)
    info = wait(vertex_provider, spec.job_name)
    local = vertex_provider.download(info.model_uri, str(tmp_path / "model.tar.gz"))
    with tarfile.open(local) as tar:
        assert json.loads(tar.extractfile("model.json").read())["w"] == 2.0
    ep = vertex_provider.deploy(DeploySpec(model_uri=local, source=SourceCode("inference.py", str(src)),
                                           framework_version="2.4"))
    try:
        artifact = vertex_rig.calls("POST", r"/models:upload$")[-1].body["model"]["artifactUri"]
        assert artifact.startswith(f"gs://{vertex_provider.bucket}/cloudml/models/"), "the local folder was uploaded"
        assert json.loads(vertex_provider.invoke(ep.name, b"[[1.0]]")) == {"predictions": [[2.0]]}
    finally:
        vertex_provider.delete_endpoint(ep.name)
    assert vertex_rig.leftovers()["endpoints"] == []


CHECKPOINTING = '''
import json, os, time
path = os.path.join(os.environ["CLOUDML_CHECKPOINT_DIR"], "step.json")
start = json.load(open(path))["step"] + 1 if os.path.exists(path) else 0
print("starting at step", start, flush=True)
for step in range(start, 6):
    json.dump({"step": step}, open(path, "w"))
    print("step", step, flush=True)
    time.sleep(0.2)
open(os.path.join(os.environ["CLOUDML_MODEL_DIR"], "done"), "w").close()
'''


def test_spot_preemption_resumes_from_aip_checkpoint_dir(vertex_provider, vertex_rig, tmp_path):
    src = project(tmp_path / "spot", {"train.py": CHECKPOINTING})
    vertex_rig.preempt(r"^step 2$")
    spec = spec_for(src, resources=Resources(instance_type="n1-standard-4", spot=True))
    submit(vertex_provider, spec, tmp_path)
    info = wait(vertex_provider, spec.job_name)
    assert info.state == JobState.COMPLETED and info.spot
    lines, _ = vertex_provider.read_logs(spec.job_name)
    starts = [line for line in lines if "starting at step" in line]
    assert starts[0].endswith("starting at step 0")
    assert "[service] Spot VM preempted; restarting the job's replicas" in lines
    assert int(starts[1].rsplit(" ", 1)[1]) >= 2, f"resumed from the checkpoint: {starts}"
    assert len(starts) == 2


def test_connection_resets_and_a_slow_answer_are_survived(vertex_provider, vertex_rig, src, tmp_path):
    vertex_rig.inject("POST", r"/customJobs$", drop=True)
    vertex_rig.inject("GET", r"/customJobs/\d+$", drop=True, times=2)
    vertex_rig.inject("GET", r"/customJobs/\d+$", delay=5)  # longer than one attempt (timeout / 3)
    spec = spec_for(src)
    submit(vertex_provider, spec, tmp_path)
    assert wait(vertex_provider, spec.job_name).state == JobState.COMPLETED
    assert not vertex_rig.faults
    assert len([j for j in vertex_rig.state.jobs.values() if j["displayName"] == spec.job_name]) == 1


def test_expired_token_is_refreshed_by_the_sdk(vertex_options, vertex_rig):
    from google.auth import credentials as ga

    class Rotating(ga.Credentials):
        def __init__(self):
            super().__init__()
            self.token, self.refreshes = "token-0", 0

        def refresh(self, request):
            self.refreshes += 1
            self.token = f"token-{self.refreshes}"

    creds = Rotating()
    provider = VertexProvider(**{**vertex_options, "credentials": creds})
    vertex_rig.inject("GET", r"/customJobs$", 401, "Request had invalid authentication credentials.",
                      status="UNAUTHENTICATED")
    with pytest.raises(NotFoundError):   # the call went through after the refresh
        provider.describe_job("anything")
    assert creds.refreshes == 1


def test_credentials_that_cannot_refresh_are_a_credentials_error(vertex_provider, vertex_rig):
    from cloudml.errors import CredentialsError

    vertex_rig.inject("GET", r"/customJobs$", 401, "Request had invalid authentication credentials.",
                      status="UNAUTHENTICATED", times=5)
    with pytest.raises(CredentialsError, match="cannot be refreshed"):
        vertex_provider.describe_job("anything")
    assert len(vertex_rig.calls("GET", r"/customJobs$")) == 1, "not retried"


def test_a_job_refused_for_capacity_says_so(vertex_provider, vertex_rig, src, tmp_path):
    vertex_rig.stockout("The zone 'us-central1-a' does not have enough resources available to fulfill the request.")
    spec = spec_for(src, resources=Resources(accelerator="A100:1", spot=True))
    submit(vertex_provider, spec, tmp_path)
    info = wait(vertex_provider, spec.job_name)
    assert info.state == JobState.FAILED and "does not have enough resources" in info.reason
    assert info.extra["capacity"] is True and info.extra["error_code"] == 8
