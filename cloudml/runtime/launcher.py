"""The launcher: first process of every cloudml training job, on every provider. Standard library only.

It maps the provider's reality onto one neutral contract, then runs the user's entry point:

* paths: ``CLOUDML_MODEL_DIR``, ``CLOUDML_OUTPUT_DIR``, ``CLOUDML_CHECKPOINT_DIR``, ``CLOUDML_CHANNEL_<NAME>``;
* job facts: ``CLOUDML_PROVIDER``, ``CLOUDML_HPS`` (JSON), ``CLOUDML_HOSTS`` (JSON), ``CLOUDML_CURRENT_HOST``,
  ``CLOUDML_NUM_GPUS``; process group: ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``
  (``TF_CONFIG`` for TensorFlow multi-worker);
* aliases so scripts written for SageMaker or Vertex run unmodified: ``SM_MODEL_DIR``, ``SM_CHANNEL_<NAME>``,
  ``SM_CHANNELS``, ``SM_HOSTS``, ``SM_CURRENT_HOST``, ``SM_NUM_GPUS``, ``SM_NUM_CPUS``, ``SM_HPS``, ``SM_HP_<KEY>``,
  ``SM_OUTPUT_DATA_DIR``, ``AIP_MODEL_DIR``, ``AIP_CHECKPOINT_DIR``; hyperparameters also as ``--key value``.

Where the facts come from (``--cloudml-X value`` arguments win over ``CLOUDML_X`` environment variables):
* ``sagemaker`` and ``local``: the ``/opt/ml`` layout under ``--cloudml-root`` (``input/data/<channel>``,
  ``input/config/resourceconfig.json`` and ``hyperparameters.json`` minus the toolkit's ``sagemaker_*`` keys,
  ``model``, ``output``, ``checkpoints``);
* ``vertex``: ``AIP_MODEL_DIR`` / ``AIP_CHECKPOINT_DIR`` (``gs://b/p`` read through the ``/gcs/b/p`` mount) and
  ``CLUSTER_SPEC``;
* ``azureml``: ``--cloudml-channel NAME=PATH`` / ``--cloudml-model-dir PATH`` filled in from the job's inputs and
  outputs; a platform that already started one process per device (``WORLD_SIZE`` and ``RANK`` set) is trusted.

Launch: one process per node unless distribution asks for more, then ``torch.distributed.run`` (PyTorch) with
``--nnodes/--node_rank/--nproc_per_node``. TensorFlow always runs one process per node (its strategy drives the
node's devices); ``multi_worker_mirrored`` / ``parameter_server`` on several nodes get a worker-only ``TF_CONFIG``
(``--cloudml-worker-addrs`` or ``host:--cloudml-worker-port``) unless the platform already set one.
``requirements.txt`` next to the entry point (unless it has only comments) is installed first: into a
cached virtualenv keyed by its hash that also sees this interpreter's packages when ``CLOUDML_VENV_CACHE`` is set
(``local``), else into the container's interpreter. On failure the reason and last log lines go to
``<output>/failure`` (SageMaker shows that file) and the launcher exits with the script's code.
"""

from __future__ import annotations

import collections
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from . import contract, procs, secrets

FAILURE_TAIL = 30
SECRET_HP_PREFIX = "CLOUDML_SECRET_HP_"
STOP_GRACE = 5.0
_OPTION = re.compile(r"^--cloudml-([a-z-]+)$")


class LaunchError(Exception):
    """A problem found before the user's script started (reported in the failure file, exit code 2)."""


# -- arguments ----------------------------------------------------------------------------------------------
def parse_argv(argv: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split argv into launcher options (``--cloudml-*``) and hyperparameters (``--key value``)."""
    options: dict[str, Any] = {"channel": {}}
    hps: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        m = _OPTION.match(arg.split("=", 1)[0])
        if "=" in arg and arg.startswith("--"):
            key, value = arg[2:].split("=", 1)
            i += 1
        elif arg.startswith("--") and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            key, value = arg[2:], argv[i + 1]
            i += 2
        elif arg.startswith("--"):
            key, value = arg[2:], "true"
            i += 1
        elif re.match(r"^-[^-\d]$", arg) and i + 1 < len(argv):  # the toolkit renders a 1-letter key as -k
            key, value = arg[1:], argv[i + 1]
            i += 2
        else:
            raise LaunchError(f"unexpected argument {arg!r}: hyperparameters are --key value pairs")
        if m:
            name = key[len("cloudml-"):]
            if name == "channel":
                cname, _, path = value.partition("=")
                options["channel"][cname] = path
            else:
                options[name] = value
        else:
            hps[key] = _decode(value)
    return options, hps


def _decode(value: str) -> object:
    try:
        return json.loads(value)
    except ValueError:
        return value


def hp_arg(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def hp_args(hps: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for key, value in hps.items():
        out += [f"--{key}", hp_arg(value)]
    return out


# -- provider layouts ---------------------------------------------------------------------------------------
def _opt(options: dict[str, Any], name: str, default: str | None = None) -> str | None:
    value = options.get(name)
    if value is None:
        value = os.environ.get("CLOUDML_" + name.upper().replace("-", "_"))
    return default if value in (None, "") else str(value)


def gcs_to_local(uri: str) -> str:
    """``gs://bucket/path`` -> ``/gcs/bucket/path`` (mount root from ``CLOUDML_GCS_MOUNT``)."""
    if uri.startswith("gs://"):
        return os.path.join(os.environ.get("CLOUDML_GCS_MOUNT", "/gcs"), uri[len("gs://"):])
    return uri


def _read_json(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def resolve(options: dict[str, Any], hps: dict[str, Any]) -> dict[str, Any]:
    """Work out the job's paths, hosts and hyperparameters from the provider's layout."""
    provider = _opt(options, "provider", "local")
    channels: dict[str, str] = {}
    for key, value in os.environ.items():
        if key.startswith("CLOUDML_CHANNEL_"):
            channels[key[len("CLOUDML_CHANNEL_"):].lower()] = value
    hosts: list[str] = []
    current = None
    merged_hps: dict[str, Any] = {}
    model_dir = output_dir = checkpoint_dir = None
    failure_file = None
    if provider in ("sagemaker", "local"):
        root = _opt(options, "root") or "/opt/ml"
        model_dir = os.path.join(root, "model")
        output_dir = os.path.join(root, "output", "data")
        failure_file = os.path.join(root, "output", "failure")
        checkpoint_dir = os.path.join(root, "checkpoints")
        for path in sorted(glob.glob(os.path.join(root, "input", "data", "*"))):
            channels.setdefault(os.path.basename(path), path)
        rc = _read_json(os.path.join(root, "input", "config", "resourceconfig.json"))
        hosts, current = list(rc.get("hosts", [])), rc.get("current_host")
        from_file = _read_json(os.path.join(root, "input", "config", "hyperparameters.json"))
        for key, value in from_file.items():
            if key.startswith("sagemaker_"):  # the DLC toolkit's own settings (script mode), not the user's
                continue
            # every value is JSON text (as the SageMaker SDK and cloudml send them); one that is not is the string
            merged_hps[key] = _decode(value) if isinstance(value, str) else value
        # The DLC's toolkit passes the same hyperparameters on the command line rendered its own way (True ->
        # "True", a dict -> k=v,k=v, "123" -> 123): the file holds the user's values, so it wins for its keys.
        hps = {k: v for k, v in hps.items() if k not in from_file}
        # secret-named hyperparameters travel in the job's Environment (CLOUDML_SECRET_HP_<n> = JSON [key, value]),
        # not in HyperParameters, which the platform's own toolkit prints in clear to the job's logs
        for name, text in sorted(os.environ.items()):
            if name.startswith(SECRET_HP_PREFIX):
                key, value = json.loads(text)
                merged_hps[str(key)] = value
    elif provider == "vertex":
        if os.environ.get("AIP_MODEL_DIR"):
            model_dir = gcs_to_local(os.environ["AIP_MODEL_DIR"])
        if os.environ.get("AIP_CHECKPOINT_DIR"):
            checkpoint_dir = gcs_to_local(os.environ["AIP_CHECKPOINT_DIR"])
        channels = {k: gcs_to_local(v) for k, v in channels.items()}
        spec = json.loads(os.environ.get("CLUSTER_SPEC") or "{}")
        cluster, task = spec.get("cluster", {}), spec.get("task", {})
        for pool in sorted(cluster):
            hosts += [addr.split(":")[0] for addr in cluster[pool]]
        if task:
            pools = sorted(cluster)
            offset = sum(len(cluster[p]) for p in pools[: pools.index(task["type"])]) if task.get("type") in pools else 0
            current = hosts[offset + int(task.get("index", 0))] if hosts else None
    if os.environ.get("CLOUDML_HPS"):
        merged_hps.update(json.loads(os.environ["CLOUDML_HPS"]))
    merged_hps.update(hps)
    channels.update(options.get("channel") or {})
    model_dir = _opt(options, "model-dir", model_dir)
    checkpoint_dir = _opt(options, "checkpoint-dir", checkpoint_dir)
    scratch = os.path.join(tempfile.gettempdir(), "cloudml")
    model_dir = model_dir or os.path.join(scratch, "model")
    output_dir = _opt(options, "output-dir", output_dir) or os.path.join(os.path.dirname(model_dir.rstrip("/")), "output")
    checkpoint_dir = checkpoint_dir or os.path.join(scratch, "checkpoints")
    hosts_opt = _opt(options, "hosts")
    if hosts_opt:
        hosts = hosts_opt.split(",")
    current = _opt(options, "current-host", current)
    hosts = hosts or ["algo-1"]
    current = current or hosts[0]
    if current not in hosts:
        raise LaunchError(f"current host {current!r} is not one of the hosts {hosts}")
    merged_hps = contract.resolve_references(merged_hps, channels, {
        "model": model_dir, "output": output_dir, "checkpoints": checkpoint_dir})
    return {
        "provider": provider, "model_dir": model_dir, "output_dir": output_dir, "checkpoint_dir": checkpoint_dir,
        "failure_file": failure_file or os.path.join(output_dir, "failure"), "channels": channels,
        "hosts": hosts, "current_host": current, "hps": merged_hps,
        "entry_point": _opt(options, "entry-point"), "framework": _opt(options, "framework", "pytorch"),
        "distribution": _opt(options, "distribution", "none"),
        "processes_per_node": _opt(options, "processes-per-node", "auto"),
        "master_addr": _opt(options, "master-addr"), "master_port": _opt(options, "master-port", "29500"),
        "master_port_given": _opt(options, "master-port") is not None,
        "worker_port": _opt(options, "worker-port", "2222"), "worker_addrs": _opt(options, "worker-addrs"),
    }


def num_gpus() -> int:
    if os.environ.get("CLOUDML_NUM_GPUS"):
        return int(os.environ["CLOUDML_NUM_GPUS"])
    return len(glob.glob("/dev/nvidia[0-9]*"))


# -- environment --------------------------------------------------------------------------------------------
def build_env(job: dict[str, Any], base: dict[str, str]) -> dict[str, str]:
    env = dict(base)
    hps = job["hps"]
    hosts = job["hosts"]
    gpus = num_gpus()
    env.update({
        "CLOUDML_PROVIDER": str(job["provider"]),
        "CLOUDML_MODEL_DIR": str(job["model_dir"]), "SM_MODEL_DIR": str(job["model_dir"]),
        "CLOUDML_OUTPUT_DIR": str(job["output_dir"]), "SM_OUTPUT_DATA_DIR": str(job["output_dir"]),
        "CLOUDML_CHECKPOINT_DIR": str(job["checkpoint_dir"]),
        "CLOUDML_HPS": json.dumps(hps), "SM_HPS": json.dumps(hps),
        "CLOUDML_HOSTS": json.dumps(hosts), "SM_HOSTS": json.dumps(hosts),
        "CLOUDML_CURRENT_HOST": str(job["current_host"]), "SM_CURRENT_HOST": str(job["current_host"]),
        "CLOUDML_NUM_GPUS": str(gpus), "SM_NUM_GPUS": str(gpus), "SM_NUM_CPUS": str(os.cpu_count() or 1),
        "SM_CHANNELS": json.dumps(sorted(job["channels"])),
        "PYTHONUNBUFFERED": "1",
    })
    if job["provider"] != "vertex" or "AIP_MODEL_DIR" not in env:
        env["AIP_MODEL_DIR"] = str(job["model_dir"])
    if job["provider"] != "vertex" or "AIP_CHECKPOINT_DIR" not in env:
        env["AIP_CHECKPOINT_DIR"] = str(job["checkpoint_dir"])
    for name, path in job["channels"].items():
        env["CLOUDML_CHANNEL_" + name.upper()] = path
        env["SM_CHANNEL_" + name.upper()] = path
    for key, value in hps.items():
        env["SM_HP_" + re.sub(r"[^A-Za-z0-9_]", "_", key).upper()] = hp_arg(value)
    if job["provider"] in ("sagemaker", "local"):
        root = os.path.dirname(str(job["model_dir"]).rstrip("/"))
        env.update({"SM_INPUT_DIR": os.path.join(root, "input"), "SM_INPUT_CONFIG_DIR": os.path.join(root, "input", "config"),
                    "SM_OUTPUT_DIR": os.path.join(root, "output"), "SM_INPUT_DATA_CONFIG": json.dumps(
                        {name: {"TrainingInputMode": "File"} for name in sorted(job["channels"])})})
    contract.extend_env(job, env)
    return env


def process_layout(job: dict[str, Any], env: dict[str, str]) -> tuple[int, int, int]:
    """(nodes, node_rank, processes_per_node) for this node."""
    hosts: list[str] = job["hosts"]
    ppn = job["processes_per_node"]
    if job["framework"] == "tensorflow":
        nproc = 1  # one TF worker per node; its strategy drives every device of the node
    elif ppn == "auto":
        nproc = max(1, num_gpus()) if job["distribution"] != "none" else 1
    else:
        nproc = int(ppn)
    return len(hosts), hosts.index(job["current_host"]), nproc


def command_for(job: dict[str, Any], python: str, script: str, env: dict[str, str]) -> list[str]:
    """The command that runs the user's script, and the process-group environment it needs (mutates env)."""
    nnodes, node_rank, nproc = process_layout(job, env)
    args = hp_args(job["hps"])
    master = job["master_addr"] or job["hosts"][0]
    port = str(job["master_port"])
    platform_launched = "WORLD_SIZE" in os.environ and "RANK" in os.environ
    if job["framework"] == "tensorflow":
        if job["distribution"] in ("multi_worker_mirrored", "parameter_server") and nnodes > 1 and "TF_CONFIG" not in env:
            addrs = (str(job["worker_addrs"]).split(",") if job["worker_addrs"]
                     else [f"{h}:{job['worker_port']}" for h in job["hosts"]])
            env["TF_CONFIG"] = json.dumps({"cluster": {"worker": addrs}, "task": {"type": "worker", "index": node_rank}})
        return [python, script, *args]
    if platform_launched or (nnodes == 1 and nproc == 1) or job["distribution"] == "none":
        # one process per node, run as it is: a script that builds its own process group (env:// or from
        # SM_HOSTS / SM_CURRENT_HOST) finds one rank per node here
        env.setdefault("WORLD_SIZE", str(nnodes))
        env.setdefault("RANK", str(node_rank))
        env.setdefault("LOCAL_RANK", "0")
        env.setdefault("MASTER_ADDR", str(master) if nnodes > 1 else "127.0.0.1")
        env.setdefault("MASTER_PORT", port)
        if nnodes > 1 and not platform_launched:  # an address/port given to the launcher wins, as under torchrun
            if job["master_addr"]:
                env["MASTER_ADDR"] = str(job["master_addr"])
            if job.get("master_port_given"):
                env["MASTER_PORT"] = port
        return [python, script, *args]
    env["MASTER_ADDR"], env["MASTER_PORT"] = str(master), port
    return [python, "-m", "torch.distributed.run", f"--nnodes={nnodes}", f"--node_rank={node_rank}",
            f"--nproc_per_node={nproc}", f"--master_addr={master}", f"--master_port={port}",
            # --tee: each rank's output is captured apart and printed as whole lines prefixed [defaultN]:
            "--tee=3", script, *args]


# -- requirements -------------------------------------------------------------------------------------------
def _host_site_paths() -> list[str]:
    return [p for p in sys.path if p and os.path.isdir(p) and ("site-packages" in p or "dist-packages" in p)]


def prepare_python(code_dir: str, log, cache: str | None = None) -> str:
    """Install ``requirements.txt`` (if any) and return the interpreter that runs the user's script.
    With a ``cache`` folder (``CLOUDML_VENV_CACHE``) the install goes into a virtualenv there, never into
    this interpreter's environment."""
    req = os.path.join(code_dir, "requirements.txt")
    if not os.path.isfile(req):
        return sys.executable
    if not _lists_requirements(req):
        log("[cloudml] requirements.txt lists nothing to install")
        return sys.executable
    cache = cache or os.environ.get("CLOUDML_VENV_CACHE")
    if not cache:
        log(f"[cloudml] installing {req} into {sys.executable}")
        _pip(sys.executable, req, code_dir)
        return sys.executable
    with open(req, "rb") as f:
        digest = hashlib.sha256(f.read() + sys.version.encode() + sys.executable.encode()).hexdigest()[:16]
    venv = os.path.join(cache, digest)
    python = os.path.join(venv, "bin", "python")
    if os.path.exists(os.path.join(venv, ".cloudml-ready")):
        log(f"[cloudml] requirements.txt satisfied by cached environment {venv}")
        return python
    os.makedirs(cache, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=digest + ".", dir=cache)
    log(f"[cloudml] creating environment for requirements.txt in {venv}")
    subprocess.run([sys.executable, "-m", "venv", tmp], check=True, stdout=subprocess.DEVNULL)
    site_dirs = glob.glob(os.path.join(tmp, "lib", "python*", "site-packages"))
    with open(os.path.join(site_dirs[0], "_cloudml_host.pth"), "w") as f:
        f.write("\n".join(_host_site_paths()) + "\n")
    _pip(os.path.join(tmp, "bin", "python"), req, code_dir)
    open(os.path.join(tmp, ".cloudml-ready"), "w").close()
    try:
        os.rename(tmp, venv)
    except OSError:  # another job made it first
        shutil.rmtree(tmp, ignore_errors=True)
    # The venv's scripts hard-code their own path; call python by the final path only.
    return python


def _lists_requirements(req: str) -> bool:
    """True when the file has a line other than blanks and comments (templates ship a commented one)."""
    with open(req, errors="replace") as f:
        return any(line.split("#", 1)[0].strip() for line in f)


def _pip(python: str, req: str, cwd: str) -> None:
    proc = subprocess.run([python, "-m", "pip", "install", "--disable-pip-version-check", "-r", req],
                          cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout.splitlines():
        print(line, flush=True)
    if proc.returncode != 0:
        raise LaunchError(f"pip install -r requirements.txt failed with exit code {proc.returncode}")


# -- run ----------------------------------------------------------------------------------------------------
def write_failure(path: str, reason: str, tail: list[str]) -> None:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(reason + "\n")
            f.writelines(line + "\n" for line in tail)
    except OSError:
        pass


def run(argv: list[str]) -> int:
    code_dir = os.getcwd()
    started = time.time()
    if os.environ.get("CLOUDML_GUARD_PARENT"):   # local: the supervisor gone -> stop (SIGTERM handler below)
        procs.guard_parent(signal.SIGTERM, expected_parent=os.getppid())
    procs.become_subreaper()  # daemons the script forks stay below us, so they are stopped with it
    tail: collections.deque[str] = collections.deque(maxlen=FAILURE_TAIL)

    masks = [secrets.Masker(inherit=True)]  # replaced by one that also knows the hyperparameters once parsed

    def log(line: str) -> None:
        line = masks[0](line)
        tail.append(line)
        print(line, flush=True)

    failure_file = os.path.join(tempfile.gettempdir(), "cloudml-failure")
    try:
        options, hps = parse_argv(argv)
        job = resolve(options, hps)
        masks[0] = secrets.Masker(job["hps"], inherit=True)
        failure_file = str(job["failure_file"])
        entry = job["entry_point"]
        if not entry:
            raise LaunchError("no entry point: pass --cloudml-entry-point or set CLOUDML_ENTRY_POINT")
        script = os.path.join(code_dir, str(entry))
        if not os.path.isfile(script):
            raise LaunchError(f"entry point {entry!r} is not in the code directory {code_dir}")
        for key in ("model_dir", "output_dir", "checkpoint_dir"):
            os.makedirs(str(job[key]), exist_ok=True)
        contract.prepare_workdir(code_dir)
        contract.opt_ml_view(job, log)
        env = build_env(job, dict(os.environ))
        python = prepare_python(code_dir, log)
        cmd = command_for(job, python, script, env)
    except (LaunchError, OSError, ValueError, subprocess.CalledProcessError) as exc:
        log(f"[cloudml] launch failed: {exc}")
        write_failure(failure_file, f"LaunchError: {exc}", list(tail))
        return 2
    if env.get("TF_CONFIG") and env["TF_CONFIG"] != os.environ.get("TF_CONFIG"):
        log(f"[cloudml] TF_CONFIG {env['TF_CONFIG']}")
    mask = masks[0]  # built once: linear in each line, whatever the number of hyperparameters
    log(f"[cloudml] host {job['current_host']} of {len(job['hosts'])}: {mask(' '.join(cmd))}")
    code = _run_script(cmd, code_dir, env, mask, tail)
    if code != 0:
        reason = f"AlgorithmError: {entry} exited with code {code} after {time.time() - started:.1f}s"
        if code < 0 and -code in (signal.SIGTERM, signal.SIGKILL) and _STOP.is_set():
            reason = f"{entry} was stopped (signal {-code})"
        print(f"[cloudml] {reason}", flush=True)
        write_failure(failure_file, reason, list(tail))
        return code if 0 < code < 256 else 1
    contract.after_run(job, code_dir, started, log)
    return 0


_STOP = threading.Event()


def _run_script(cmd: list[str], code_dir: str, env: dict[str, str], mask: secrets.Masker,
                tail: collections.deque[str]) -> int:
    """Run the script to its end; then stop whatever it left running (a forked daemon must neither keep the
    job alive through the output pipe nor outlive it). SIGTERM to the launcher stops the script (and its
    children) with a grace period, as the platforms do on a stop."""
    procs_started: list[subprocess.Popen[str]] = []

    def on_term(signum: int, frame: object) -> None:
        _STOP.set()
        for started_proc in procs_started:
            try:
                started_proc.terminate()
            except OSError:
                pass
        threading.Thread(target=procs.kill_tree, args=(os.getpid(), STOP_GRACE), daemon=True).start()

    # the handler is in place before the script exists: a stop that comes at once still reaches all of it
    previous = signal.signal(signal.SIGTERM, on_term) if threading.current_thread() is threading.main_thread() \
        else None
    proc = subprocess.Popen(cmd, cwd=code_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", bufsize=1,
                            preexec_fn=procs.child_guard if procs.supported() else None)
    procs_started.append(proc)
    if _STOP.is_set():
        proc.terminate()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = mask(line.rstrip("\n"))
            tail.append(line)
            print(line, flush=True)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        code = proc.wait()
    reader.join(timeout=2)
    left = procs.descendants(os.getpid())
    if left:
        print(f"[cloudml] stopping {len(left)} process(es) the script left running after it exited", flush=True)
        procs.kill_tree(os.getpid(), grace=1.0)
    reader.join(timeout=5)
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)
    return code


def main() -> None:
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
