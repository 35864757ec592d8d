"""The fake Azure ML's job runner (a mixin of ``FakeAzureML``): runs each command job as Azure ML would.

A job moves Queued -> Starting -> Running -> Completed/Failed/Canceled. Its code snapshot and inputs are
downloaded from Azurite into folders, ``${{inputs.x}}`` / ``${{outputs.y}}`` are replaced by those folders (an output
folder starts with what its path already holds, as a read-write mount does), and each process runs
``python cloudml_launcher.py ...`` with ``contract.run_bundle``'s contract (extracted code, clean environment), one
process per device with ``WORLD_SIZE``/``RANK``/``MASTER_ADDR`` for ``PyTorch`` distribution, ``TF_CONFIG`` for
``TensorFlow``, and its own ``TMPDIR`` (each Azure container has its own ``/tmp``). Logs stream to
``ExperimentRun/dcid.<job>/user_logs/std_log[_process_N].txt``; outputs are uploaded back when the job ends.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import subprocess
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from cloudml.packaging import safe_extract
from tests.rigs.azurite import ACCOUNT, ARTIFACT_CONTAINER, free_port
from tests.rigs.containers import container_python, in_namespace, kill_tree, private_mounts
from tests.rigs.contract import _DROP


class JobRunner:
    """Mixin: needs ``self.lock``, ``self.resources``, ``self.azurite``, ``self.workdir``, ``self.job_dirs``,
    ``self.job_procs``, ``self._get`` and ``self._datastore`` from ``FakeAzureML``."""

    # -- the job runner ----------------------------------------------------------------------------------------
    def _blob_location(self, uri: str) -> tuple[str, str]:
        """(container, prefix) in Azurite for an ``azureml://datastores/..`` or blob ``http(s)://`` URI."""
        m = re.match(r"^azureml://(?:subscriptions/[^/]+/resourcegroups/[^/]+/workspaces/[^/]+/)?datastores/"
                     r"([^/]+)/paths/(.*)$", uri, re.IGNORECASE)
        if m:
            ds = self._datastore(m.group(1))["properties"]["containerName"] if m.group(1) in (
                "workspaceblobstore", "workspaceartifactstore") else m.group(1)
            return ds, m.group(2)
        u = urlparse(uri)
        path = unquote(u.path).lstrip("/")
        if path.startswith(ACCOUNT + "/"):
            path = path[len(ACCOUNT) + 1:]
        container, _, prefix = path.partition("/")
        return container, prefix

    def _set(self, name: str, status: str, error: str | None = None) -> bool:
        """Move a job on unless a cancel came first; returns False once the job is being canceled."""
        with self.lock:
            job = self.resources.get(f"/jobs/{name}".lower())
            if job is None:
                return False
            props = job["properties"]
            if props["status"] in ("CancelRequested", "Canceled") and status not in ("Canceled",):
                return False
            props["status"] = status
            if error:
                job["_error"] = error
            return True

    def _run_job(self, name: str) -> None:
        try:
            self._execute(name)
        except Exception as exc:  # the rig itself failed: show it as a system error on the job
            import traceback

            traceback.print_exc()
            self._set(name, "Failed", f"rig error: {type(exc).__name__}: {exc}")

    def _execute(self, name: str) -> None:
        if not self._set(name, "Queued"):
            self._set(name, "Canceled")
            return
        time.sleep(self.job_delay)
        if not self._set(name, "Starting"):
            self._set(name, "Canceled")
            return
        with self.lock:
            props = copy.deepcopy(self.resources[f"/jobs/{name}".lower()]["properties"])
        workdir = self.workdir / "jobs" / name
        workdir.mkdir(parents=True)
        self.job_dirs[name] = workdir
        code_rel = "/" + props["codeId"].split("/workspaces/", 1)[1].split("/", 1)[1]
        with self.lock:
            code_uri = self._get(code_rel)["properties"]["codeUri"]
        snapshot = workdir / "snapshot"
        container, prefix = self._blob_location(code_uri)
        self.azurite.download_prefix(container, prefix, snapshot)
        from cloudml.packaging import tar_dir

        bundle = tar_dir(snapshot, workdir / "code.tar.gz")
        subst: dict[str, str] = {}
        for iname, inp in (props.get("inputs") or {}).items():
            if inp.get("jobInputType") == "literal":
                subst[f"${{{{inputs.{iname}}}}}"] = str(inp.get("value"))
                continue
            local = workdir / "inputs" / iname
            c, p = self._blob_location(inp["uri"])
            self.azurite.download_prefix(c, p, local)
            if inp.get("jobInputType") == "uri_file":
                local = local / os.path.basename(p.rstrip("/"))
            subst[f"${{{{inputs.{iname}}}}}"] = str(local)
        outputs: dict[str, Path] = {}
        for oname, out in (props.get("outputs") or {}).items():
            local = workdir / "outputs" / oname
            local.mkdir(parents=True)
            c, p = self._blob_location(out["uri"])  # rw_mount shows what the path already holds
            self.azurite.download_prefix(c, p, local)
            outputs[oname] = local
            subst[f"${{{{outputs.{oname}}}}}"] = str(local)
        command = props.get("command") or ""
        for key, value in subst.items():
            command = command.replace(key, value)
        argv = shlex.split(command)
        base_env = {str(k): str(v) for k, v in (props.get("environmentVariables") or {}).items()}
        base_env.update({"AZUREML_RUN_ID": name, "AZUREML_ARM_WORKSPACE_NAME": self.workspace,
                         "AZUREML_ARM_RESOURCEGROUP": self.resource_group, "AZUREML_CR_NODE_COUNT": "1"})
        procs = self._process_envs(props, base_env)
        if not self._set(name, "Running"):
            self._set(name, "Canceled")
            return
        results: dict[int, Any] = {}
        single = len(procs) == 1

        def one(rank: int, env: dict[str, str]) -> None:
            log_blob = f"ExperimentRun/dcid.{name}/user_logs/" + ("std_log.txt" if single else f"std_log_process_{rank}.txt")
            if argv[:2] != ["python", "cloudml_launcher.py"]:
                text = f"the rig runs only 'python cloudml_launcher.py ...', got {command!r}\n"
                self._write_log(log_blob, text)
                results[rank] = (127, text)
                return
            results[rank] = self._run_streaming(name, bundle, workdir / f"process-{rank}", env, argv[2:], log_blob)

        threads = [threading.Thread(target=one, args=(rank, env), daemon=True) for rank, env in procs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for oname, local in outputs.items():
            c, p = self._blob_location(props["outputs"][oname]["uri"])
            self.azurite.upload_folder(c, p, local)
        with self.lock:
            canceled = self.resources[f"/jobs/{name}".lower()]["properties"]["status"] in ("CancelRequested", "Canceled")
        failed = {r: res for r, res in results.items() if res[0] != 0}
        if canceled:
            self._set(name, "Canceled")
        elif failed:
            rank, (code, output) = sorted(failed.items())[0]
            lines = [line for line in output.splitlines() if line.strip()]
            self._set(name, "Failed", f"Execution failed. User process 'python' exited with status code {code}. "
                                      f"Please check log file 'user_logs/std_log.txt' for error details. "
                                      f"Error: {lines[-1] if lines else ''}")
        else:
            self._set(name, "Completed")

    def _process_envs(self, props: dict[str, Any], base: dict[str, str]) -> list[tuple[int, dict[str, str]]]:
        """One environment per process, as Azure ML starts them for the job's distribution."""
        nodes = int((props.get("resources") or {}).get("instanceCount") or 1)
        dist = props.get("distribution") or {}
        kind = (dist.get("distributionType") or "").lower()
        out: list[tuple[int, dict[str, str]]] = []
        if kind == "pytorch":
            ppn = int(dist.get("processCountPerInstance") or 1)
            port = str(free_port())
            for node in range(nodes):
                for local in range(ppn):
                    rank = node * ppn + local
                    out.append((rank, {**base, "WORLD_SIZE": str(nodes * ppn), "RANK": str(rank),
                                       "LOCAL_RANK": str(local), "NODE_RANK": str(node), "GROUP_RANK": str(node),
                                       "LOCAL_WORLD_SIZE": str(ppn), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port,
                                       "AZUREML_CR_NODE_COUNT": str(nodes)}))
        elif kind == "tensorflow":
            workers = int(dist.get("workerCount") or nodes)
            addrs = [f"127.0.0.1:{free_port()}" for _ in range(workers)]
            for i in range(workers):
                tf_config = {"cluster": {"worker": addrs}, "task": {"type": "worker", "index": i}, "environment": "cloud"}
                out.append((i, {**base, "TF_CONFIG": json.dumps(tf_config), "AZUREML_CR_NODE_COUNT": str(workers)}))
        else:
            out = [(node, dict(base)) for node in range(nodes)]
        return out

    def _write_log(self, blob: str, text: str) -> None:
        client = self.azurite.service().get_container_client(ARTIFACT_CONTAINER)
        client.upload_blob(blob, text.encode(), overwrite=True)

    def _run_streaming(self, job: str, bundle: Path, workdir: Path, env: dict[str, str], args: list[str],
                       log_blob: str) -> tuple[int, str]:
        """``contract.run_bundle``'s contract (extract, clean environment, ``python cloudml_launcher.py ARGS``), but
        streaming: the log blob is rewritten as lines arrive (at most every 0.3 s), as Azure ML appends to
        ``user_logs/``, and the process group can be killed by a cancel."""
        code_dir = workdir / "code"
        safe_extract(bundle, code_dir)
        (workdir / "tmp").mkdir()
        clean = {k: v for k, v in os.environ.items() if not k.startswith(_DROP)}
        clean.update(env)
        clean["TMPDIR"] = str(workdir / "tmp")  # each Azure ML container has its own /tmp
        python = container_python(workdir / "container")   # the job's own interpreter: installs stay in it
        clean["PATH"] = str(Path(python).parent) + os.pathsep + clean.get("PATH", "/usr/bin:/bin")
        cmd = [python, "cloudml_launcher.py", *args]
        if private_mounts("/opt/ml"):   # the container's own (empty) /opt/ml, never the host's
            (workdir / "opt-ml").mkdir()
            cmd = in_namespace({str(workdir / "opt-ml"): "/opt/ml"}, cmd)
        else:
            clean["CLOUDML_OPT_ML"] = "0"
        proc = subprocess.Popen(cmd, cwd=code_dir, env=clean,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                                start_new_session=True)
        with self.lock:
            self.job_procs.setdefault(job, []).append(proc)
            cancelled = self.resources[f"/jobs/{job}".lower()]["properties"]["status"] == "CancelRequested"
        if cancelled:
            kill_tree(proc)
        out: list[str] = []
        last = 0.0
        assert proc.stdout is not None
        for line in proc.stdout:
            out.append(line)
            if time.time() - last > 0.3:
                self._write_log(log_blob, "".join(out))
                last = time.time()
        code = proc.wait()
        text = "".join(out)
        self._write_log(log_blob, text)
        return code, text

    def _kill_job(self, name: str) -> None:
        """End the process groups this rig started for ``name``."""
        with self.lock:
            procs = list(self.job_procs.get(name, []))
        for proc in procs:
            if proc.poll() is None:
                kill_tree(proc)   # the launcher, torchrun and every worker, whatever session they made

