import time

from cloudml import packaging
from cloudml.spec import Resources, SourceCode, TrainingSpec, make_job_name


def wait(provider, name, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = provider.describe_job(name)
        if info.state.terminal:
            return info
        time.sleep(0.2)
    raise AssertionError("timeout")


def test_fit_smoke(provider, sagemaker_rig, project, tmp_path):
    spec = TrainingSpec(source=SourceCode("train.py", str(project)), resources=Resources(instance_type="ml.m5.xlarge"),
                        hyperparameters={"epochs": 30}, job_name=make_job_name("smoke"))
    provider.validate(spec)
    bundle = packaging.build(project, tmp_path, entry_point="train.py")
    info = provider.submit(spec, bundle)
    print(info)
    info = wait(provider, spec.job_name)
    print(info)
    lines, cur = provider.read_logs(spec.job_name)
    print("\n".join(lines))
    assert info.state.value == "Completed", info.reason
