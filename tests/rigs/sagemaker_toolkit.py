"""One SageMaker training host as the Deep Learning Container runs it: the published ``sagemaker-training``
toolkit's entry (``train``), with ``SAGEMAKER_TRAINING_MODULE=sagemaker_pytorch_container.training:main`` on a
PyTorch image (the ``sagemaker-pytorch-training`` toolkit, as the PyTorch DLC sets it), reading the host's
``/opt/ml``. Nothing of cloudml runs here unless the job's ``sagemaker_program`` is cloudml's launcher.

Where the rig can (``containers.private_mounts``), each host runs in its own mount + UTS namespace: its folder is
bind-mounted at the real ``/opt/ml``, an ``/etc/hosts`` naming ``algo-1..N`` (127.0.0.1: all hosts share this
machine) at ``/etc/hosts``, and its hostname is ``algo-N``. Otherwise the toolkit's own fallback is used:
``SAGEMAKER_BASE_DIR`` (and ``CLOUDML_ROOT`` for the launcher) name the folder, ``SM_STUDIO_LOCAL_MODE=True``
skips the host-name wait, and a ``sagemaker_submit_directory`` inside ``/opt/ml`` is rewritten to that folder.

What the rig adds because everything is on one machine and AWS is moto: ``S3_ENDPOINT_URL`` (the toolkit's own
setting for its S3 download) and fake credentials point at the rig, and ``CLOUDML_MASTER_PORT`` /
``CLOUDML_WORKER_ADDRS`` give the hosts free ports (on SageMaker each host has its own network).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from tests.rigs.containers import container_python, in_namespace, kill_tree, private_mounts
from tests.rigs.contract import _DROP

#: what the AWS PyTorch training DLC's Dockerfile sets (the framework toolkit the ``train`` entry imports)
PYTORCH_TRAINING_MODULE = "sagemaker_pytorch_container.training:main"
TRAIN = "from sagemaker_training.cli.train import main; main()"   # the DLC's ``train`` console script


def image_environment(image: str) -> dict[str, str]:
    if "pytorch-training" in image:
        return {"SAGEMAKER_TRAINING_MODULE": PYTORCH_TRAINING_MODULE}
    return {}   # TensorFlow: sagemaker-tensorflow-training is not used by the rig (see docs/contract.md)


def image_absent(image: str) -> tuple[str, ...]:
    """Frameworks the image does not hold (the test runner has both; the toolkit imports TensorFlow if found)."""
    if "pytorch" in image:
        return ("tensorflow", "keras")
    if "tensorflow" in image:
        return ("torch",)
    return ()


def write_config(root: Path, host: str, hosts: list[str], request: dict) -> None:
    """``/opt/ml/input/config`` as SageMaker writes it: the request's HyperParameters verbatim (strings)."""
    config = root / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "hyperparameters.json").write_text(json.dumps(request.get("HyperParameters") or {}))
    (config / "resourceconfig.json").write_text(json.dumps({
        "current_host": host, "current_instance_type": request["ResourceConfig"]["InstanceType"],
        "current_group_name": "homogeneousCluster", "hosts": hosts, "network_interface_name": "eth0",
        "instance_groups": [{"instance_group_name": "homogeneousCluster", "hosts": hosts,
                             "instance_type": request["ResourceConfig"]["InstanceType"]}]}))
    (config / "inputdataconfig.json").write_text(json.dumps({
        c["ChannelName"]: {"TrainingInputMode": c.get("InputMode", "File"), "S3DistributionType": "FullyReplicated",
                           "RecordWrapperType": "None"} for c in request.get("InputDataConfig") or []}))
    (root / "code").mkdir(exist_ok=True)
    (root / "model").mkdir(exist_ok=True)
    (root / "output" / "data").mkdir(parents=True, exist_ok=True)


def run_host(root: Path, host: str, hosts: list[str], request: dict, env: dict[str, str], *, timeout: float,
             on_line: Callable[[str], None], procs: list[subprocess.Popen]) -> int | None:
    """Run the toolkit for ``host`` over ``root`` (its ``/opt/ml``); the exit code, or None after ``timeout``
    seconds (then the host's whole process tree is gone). ``procs`` receives the process so a stop can kill it."""
    image = request["AlgorithmSpecification"]["TrainingImage"]
    python = container_python(root.parent / "container", absent=image_absent(image))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(_DROP) and k not in ("PYTHONPATH",)}
    clean.update(env)
    clean.update(image_environment(image))
    clean["PATH"] = str(Path(python).parent) + os.pathsep + clean.get("PATH", "/usr/bin:/bin")
    cmd = [python, "-c", TRAIN]
    if private_mounts("/opt/ml"):
        etc_hosts = root.parent / "hosts"
        etc_hosts.write_text("127.0.0.1 localhost\n" + "".join(f"127.0.0.1 {h}\n" for h in hosts))
        cmd = in_namespace({str(root): "/opt/ml", str(etc_hosts): "/etc/hosts"}, cmd, hostname=host)
    else:
        hps_file = root / "input" / "config" / "hyperparameters.json"
        hps = json.loads(hps_file.read_text())
        submit = hps.get("sagemaker_submit_directory", "")
        if "/opt/ml/" in submit:
            hps["sagemaker_submit_directory"] = submit.replace("/opt/ml", str(root), 1)
            hps_file.write_text(json.dumps(hps))
        clean.update({"SAGEMAKER_BASE_DIR": str(root), "CLOUDML_ROOT": str(root), "SM_STUDIO_LOCAL_MODE": "True",
                      "CLOUDML_MASTER_ADDR": "127.0.0.1"})
    proc = subprocess.Popen(cmd, cwd=root, env=clean, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace", bufsize=1, start_new_session=True)
    procs.append(proc)
    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        kill_tree(proc)

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            on_line(line.rstrip("\n"))
        proc.wait()
    finally:
        timer.cancel()
        kill_tree(proc)   # whatever the toolkit left (it exits with the script; a stray child must not outlive it)
    return None if timed_out.is_set() else proc.returncode
