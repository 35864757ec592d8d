"""``Estimator``: fit a training script on any provider, deploy what it trained, or attach to a past job.

Orchestration only (DESIGN "Flow of fit()"): validate the spec, choose an instance when none is pinned (cost
planner), get the provider (first SDK import happens there), check its features, bundle, submit once, wait.
Every check that can fail on bad input runs before any subprocess or network call.
The constructor does no I/O; it validates values so mistakes surface where they are written.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from cloudml import names, packaging, providers
from cloudml.config import cache_dir
from cloudml.endpoints import Endpoint
from cloudml.errors import CloudMLError, NoFeasibleOfferError, ValidationError
from cloudml.jobs import Job
from cloudml.providers.base import JobState, Provider
from cloudml.spec import DeploySpec, Resources, SourceCode, TrainingSpec, make_job_name

log = logging.getLogger("cloudml")

DEFAULT_PROVIDER = "local"


def _options(provider: str, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """``given`` over the configuration file's options for ``provider`` (given keys win, key by key)."""
    from cloudml import config

    return {**config.provider_options(provider), **dict(given or {})}


def _channels(inputs: str | os.PathLike[str] | Mapping[str, Any] | None) -> dict[str, str]:
    if inputs is None:
        return {}
    if isinstance(inputs, (str, os.PathLike)):
        return {"training": os.fspath(inputs)}
    if isinstance(inputs, Mapping):
        return {str(k): os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in inputs.items()}
    raise ValidationError("inputs", f"expected a URI/path or a mapping of channel name to URI, got {type(inputs).__name__}")


def _elsewhere(res: Any, provider: str, instance_count: int, workload: Any) -> str:
    """Where else the same request fits (other priced providers, any region), for a no-offer error."""
    from cloudml.cost import plan_for
    from cloudml.cost.instances import PROVIDERS

    found = []
    for other in PROVIDERS:
        if other == provider:
            continue
        try:
            best = plan_for(replace(res, region=None), [other], instance_count=instance_count, workload=workload)[0]
        except CloudMLError:
            continue
        found.append(f"{other} {best.offer.instance_type} in {best.offer.region} at ${best.offer.price_usd_hour:.2f}/h")
    if not found:
        return ""
    return f". The same request fits on: {'; '.join(found)} (set provider=, or failover_providers with failover=True)"


class Estimator:
    """A training script plus where and how to run it.

    >>> est = Estimator("train.py", source_dir="src", framework="pytorch", provider="local",
    ...                 hyperparameters={"epochs": 5})
    >>> job = est.fit({"training": "data/"})        # blocks, streams logs, returns a Job
    >>> endpoint = est.deploy()                      # serves src/inference.py with the trained model
    """

    def __init__(
        self,
        entry_point: str,
        source_dir: str | os.PathLike[str] = ".",
        framework: str = "pytorch",
        framework_version: str | None = None,
        *,
        resources: Resources | None = None,
        instance_type: str | None = None,
        instance_count: int = 1,
        processes_per_node: int | None = None,
        distribution: str | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        environment: Mapping[str, str] | None = None,
        provider: str | None = None,
        provider_options: Mapping[str, Any] | None = None,
        base_job_name: str | None = None,
        max_run_seconds: int = 24 * 3600,
        max_wait_seconds: int | None = None,
        checkpoint_uri: str | None = None,
        output_uri: str | None = None,
        tags: Mapping[str, str] | None = None,
        ignore: tuple[str, ...] = (),
        allow_secrets: bool = False,
        failover: bool = False,
        max_attempts: int = 3,
        failover_providers: tuple[str, ...] | None = None,
        failover_options: Mapping[str, Mapping[str, Any]] | None = None,
    ):
        resources = resources if resources is not None else Resources()
        if not isinstance(resources, Resources):
            raise ValidationError("resources", f"must be a cloudml.Resources, got {type(resources).__name__}")
        if instance_type is not None:
            if resources.instance_type not in (None, instance_type):
                raise ValidationError("instance_type", "given both here and in resources.instance_type", "give it once")
            resources = replace(resources, instance_type=instance_type)
        if provider is None:
            from cloudml import config

            provider = config.default_provider()
        self.provider_name = provider
        if not providers.is_known(self.provider_name):
            from cloudml.errors import UnknownProviderError

            raise UnknownProviderError(str(self.provider_name), providers.available())
        if provider_options is not None and not isinstance(provider_options, Mapping):
            raise ValidationError("provider_options", f"must be a mapping of option name to value, got "
                                  f"{type(provider_options).__name__}", 'e.g. {"bucket": "my-bucket"}')
        bad = [k for k in (provider_options or {}) if not isinstance(k, str)]
        if bad:
            raise ValidationError("provider_options", f"option names must be strings, got {bad[0]!r}")
        self.provider_options = dict(provider_options or {})
        if not isinstance(failover, bool):
            raise ValidationError("failover", f"must be True or False, got {failover!r}")
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValidationError("max_attempts", f"must be a whole number >= 1, got {max_attempts!r}")
        from cloudml.failover import DEFAULT_PROVIDERS

        chosen = (self.provider_name, *DEFAULT_PROVIDERS) if failover_providers is None else tuple(failover_providers)
        unknown = [n for n in chosen if not providers.is_known(n)]
        if unknown:
            raise ValidationError("failover_providers", f"unknown provider(s) {unknown!r}",
                                  "choose from: " + ", ".join(providers.available()))
        if not isinstance(failover_options or {}, Mapping) or not all(
                isinstance(v, Mapping) for v in (failover_options or {}).values()):
            raise ValidationError("failover_options", "must map a provider name to its options",
                                  'e.g. {"vertex": {"project": "p", "location": "us-central1"}}')
        self.failover = failover
        self.max_attempts = max_attempts
        self.failover_providers = tuple(dict.fromkeys(chosen))
        self.failover_options = {k: dict(v) for k, v in (failover_options or {}).items()}
        if base_job_name is not None:
            names.check(base_job_name, "base_job_name", names.BASE_JOB_NAME)
        self.base_job_name = base_job_name or Path(str(entry_point)).stem.replace("_", "-")
        self.spec = TrainingSpec(
            source=SourceCode(entry_point, os.fspath(source_dir), ignore=tuple(ignore), allow_secrets=allow_secrets),
            framework=framework, framework_version=framework_version, resources=resources,
            instance_count=instance_count, processes_per_node=processes_per_node, distribution=distribution,
            hyperparameters=dict(hyperparameters or {}), environment=dict(environment or {}),
            max_run_seconds=max_run_seconds, max_wait_seconds=max_wait_seconds, checkpoint_uri=checkpoint_uri,
            output_uri=output_uri, tags=dict(tags or {}),
        )
        self.latest_job: Job | None = None
        self._provider: Provider | None = None

    def __repr__(self) -> str:
        s = self.spec
        return (f"Estimator({s.source.entry_point!r}, source_dir={s.source.source_dir!r}, framework={s.framework!r}, "
                f"framework_version={s.framework_version!r}, provider={self.provider_name!r})")

    # convenient read-only views of the spec
    @property
    def hyperparameters(self) -> dict[str, Any]:
        return dict(self.spec.hyperparameters)

    @property
    def framework(self) -> str:
        return self.spec.framework

    @property
    def framework_version(self) -> str | None:
        return self.spec.framework_version

    @property
    def provider(self) -> Provider:
        """The provider instance (created on first use; this is where its SDK is first imported), configured
        with ``provider_options`` over the configuration file's section for it (``cloudml.config``)."""
        if self._provider is None:
            self._provider = providers.get(self.provider_name, **_options(self.provider_name, self.provider_options))
        return self._provider

    # -- training -----------------------------------------------------------------------------------------
    def prepare(self, inputs: Any = None, job_name: str | None = None) -> TrainingSpec:
        """The exact spec ``fit`` would submit: validated, instance chosen. Makes no network call."""
        spec = replace(self.spec, channels=_channels(inputs), job_name=job_name or make_job_name(self.base_job_name))
        provider = self.provider
        provider.check_name("job", spec.job_name, "job_name")
        spec.validate(provider.storage_schemes)
        spec = self._choose_instance(spec)
        provider.check_features(spec)
        provider.validate(spec)
        return spec

    def _choose_instance(self, spec: TrainingSpec) -> TrainingSpec:
        """Pick the instance from the price catalog when none is pinned, and refuse a job whose worst-case
        cost (price x max_run_seconds x instances) exceeds ``resources.max_total_usd``."""
        res = spec.resources
        if self.provider_name == DEFAULT_PROVIDER or (res.instance_type is not None and res.max_total_usd is None):
            return spec
        from cloudml.cost import Workload, plan_for

        # offers only in the region the provider is configured for (a Vertex location, an AWS region ...)
        configured = getattr(self.provider, "region", None) or getattr(self.provider, "location", None)
        if res.region is None and isinstance(configured, str):
            res = replace(res, region=configured)
        workload = Workload(hours=spec.max_run_seconds / 3600)
        try:
            plans = plan_for(res, [self.provider_name], instance_count=spec.instance_count, workload=workload)
        except NoFeasibleOfferError as exc:
            if res.instance_type is not None:  # pinned, but without a catalog price the budget cannot be checked
                where = f" in {res.region}" if res.region else ""
                raise NoFeasibleOfferError(
                    f"{exc}. resources.max_total_usd needs a price for {res.instance_type}{where} and the catalog "
                    f"has none matching: drop max_total_usd, pick a priced type (`cloudml instances list -p "
                    f"{self.provider_name}`), or add a catalog row (CLOUDML_CATALOG=file.csv)", closest=exc.closest) from None
            raise NoFeasibleOfferError(f"{exc}{_elsewhere(res, self.provider_name, spec.instance_count, workload)}",
                                       closest=exc.closest) from None
        if res.instance_type is not None:
            return spec
        best = plans[0]
        offer = best.offer
        log.info("chose %s (%s, %s) at $%.2f/h; runners-up: %s", offer.instance_type, offer.region, offer.capacity,
                 offer.price_usd_hour,
                 ", ".join(f"{p.offer.instance_type} ${p.offer.price_usd_hour:.2f}/h" for p in plans[1:4]) or "none")
        # the offer satisfies the request as given (the planner never widens it); an at-least request such as
        # "A100:1+" resolves to the offer's exact count so the provider request names the real machine
        accelerator = f"{offer.accelerator}:{offer.accelerator_count}" if offer.accelerator else res.accelerator
        # a provider whose region must be configured (SageMaker) gets none from the offer: the job would be
        # submitted to a region that `cloudml jobs list` cannot then find (issue 17)
        region_from_offer = None if hasattr(self.provider, "region") and configured is None else offer.region
        return replace(spec, resources=replace(res, instance_type=offer.instance_type, accelerator=accelerator,
                                               region=res.region or region_from_offer))

    def fit(self, inputs: Any = None, *, wait: bool = True, logs: bool = True, job_name: str | None = None) -> Job:
        """Run the training script. ``inputs``: a path/URI (channel ``training``) or ``{channel: path/URI}``;
        local paths are uploaded to the provider's storage. Blocks until the job ends when ``wait``.
        Raises ``JobFailedError`` if it fails; returns the ``Job``.

        A quota or capacity refusal (``CapacityError`` from submit, or a job that ends failed because the provider
        could not get capacity) names the refused instance type and the next-cheapest feasible offer among
        ``failover_providers``; with ``failover=True`` fit submits there instead, up to ``max_attempts`` places in
        all (see ``cloudml.failover``). ``job.attempts`` lists every place tried and why it moved on."""
        from cloudml.errors import CapacityError, JobFailedError
        from cloudml.failover import Attempt, attempt_name, next_offer, provider_getter

        spec = self.prepare(inputs, job_name)
        bundle = packaging.build(spec.source.source_dir, cache_dir() / "bundles", entry_point=spec.source.entry_point,
                                 ignore=spec.source.ignore, allow_secrets=spec.source.allow_secrets)
        provider = self.provider
        attempts: list[Attempt] = []
        refused: set[tuple[str, str | None, str | None]] = set()
        get_provider = provider_getter(provider, self.failover_options)
        base_name = spec.job_name or make_job_name(self.base_job_name)
        for number in range(1, self.max_attempts + 1):
            res = spec.resources
            try:
                info = provider.submit(spec, bundle)
            except CapacityError as exc:
                attempts.append(Attempt(provider.name, res.instance_type, res.region, spec.job_name, "refused",
                                        exc.reason))
                error: CapacityError = exc
            else:
                job = Job(provider, info.name, secrets={**spec.environment, **spec.hyperparameters})
                job.attempts = [*attempts, Attempt(provider.name, res.instance_type, res.region, info.name,
                                                   "submitted")]
                self.latest_job = job
                if not wait:
                    return job
                try:
                    job.wait(logs=logs)
                    return job
                except JobFailedError as exc:
                    if not job.describe().extra.get("capacity"):
                        raise
                    job.attempts[-1] = replace(job.attempts[-1], outcome="refused", reason=exc.reason)
                    attempts = list(job.attempts)
                    error = CapacityError(provider.name, res.instance_type or "?", exc.reason)
            refused.add((provider.name, res.instance_type, res.region))
            refused.add((provider.name, res.instance_type, None))
            candidate = next_offer(spec, self.failover_providers, get_provider, refused,
                                   attempt_name(base_name, number + 1), attempts, request=self.spec.resources)
            if candidate is None or not self.failover or number == self.max_attempts:
                why = error.reason
                if self.failover:
                    why += "; tried: " + "; ".join(str(a) for a in attempts)
                raise CapacityError(error.provider, error.instance_type, why,
                                    candidate.describe() if candidate else "none among " +
                                    ", ".join(self.failover_providers)) from error
            log.warning("%s refused %s (%s); failing over to %s", provider.name, res.instance_type, error.reason,
                        candidate.describe())
            provider, spec = candidate.provider, candidate.spec
        raise AssertionError("unreachable")

    @property
    def model_uri(self) -> str | None:
        return self.latest_job.model_uri if self.latest_job else None

    # -- serving ------------------------------------------------------------------------------------------
    def deploy(
        self,
        *,
        instance_type: str | None = None,
        accelerator: str | None = None,
        min_replicas: int = 1,
        max_replicas: int | None = None,
        endpoint_name: str | None = None,
        inference_entry_point: str = "inference.py",
        environment: Mapping[str, str] | None = None,
        ttl_seconds: int | None = None,
        auth_token: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Endpoint:
        """Serve the latest job's model behind the provider's endpoint, using ``inference_entry_point`` from
        ``source_dir`` (SageMaker handlers in ``inference.py``, or an Azure ML ``score.py`` with ``init()`` /
        ``run()``) when it exists, else the training entry point when it defines the handlers (as SageMaker's
        ``deploy()`` does), else the defaults. Blocks until the endpoint is in service."""
        if self.latest_job is None:
            raise ValidationError("deploy", "there is no trained model yet", "call fit() or Estimator.attach() first")
        info = self.latest_job.describe()
        if info.state != JobState.COMPLETED or not info.model_uri:
            raise ValidationError("deploy", f"job {info.name} is {info.state.value}, not Completed",
                                  "wait for it to complete")
        source_dir = self.spec.source.source_dir
        serving_entry: str | None = inference_entry_point
        if not (Path(source_dir) / inference_entry_point).is_file():
            from cloudml.runtime.serving import HANDLERS, handler_names

            training = self.spec.source.entry_point
            defined = handler_names(str(Path(source_dir) / training)) & set(HANDLERS)
            serving_entry = training if defined else None
        source = (SourceCode(serving_entry, source_dir, ignore=self.spec.source.ignore,
                             allow_secrets=self.spec.source.allow_secrets) if serving_entry else None)
        if endpoint_name is not None:
            self.provider.check_name("endpoint", endpoint_name)
        name = endpoint_name or f"{info.name[:54].rstrip('-')}-{secrets.token_hex(4)}"
        spec = DeploySpec(
            model_uri=info.model_uri, source=source, framework=self.spec.framework,
            framework_version=self.spec.framework_version, instance_type=instance_type, accelerator=accelerator,
            min_replicas=min_replicas, max_replicas=max_replicas, endpoint_name=name,
            environment=dict(environment or {}), ttl_seconds=ttl_seconds, auth_token=auth_token,
            tags={**self.spec.tags, **(tags or {})},
        )
        self.provider.check_features(spec)
        endpoint = self.provider.deploy(spec)
        return Endpoint(self.provider, endpoint.name, token=auth_token)

    # -- attach -------------------------------------------------------------------------------------------
    @classmethod
    def attach(cls, job_name: str, provider: str | None = None,
               provider_options: Mapping[str, Any] | None = None) -> Estimator:
        """Rebuild an estimator from an existing job (any state) so it can be waited on or deployed.
        ``provider`` None: the configured default provider (``cloudml.config``), else ``local``."""
        if provider is None:
            from cloudml import config

            provider = config.default_provider()
        instance = providers.get(provider, **_options(provider, provider_options))
        instance.check_name("job", job_name, "job_name")
        info = instance.describe_job(job_name)
        source_dir = info.extra.get("source_dir")
        if not source_dir or not Path(source_dir).is_dir():
            source_dir = str(cls._fetch_code(instance, info.code_uri, job_name))
        est = cls(
            info.entry_point or "train.py", source_dir, info.framework or "pytorch", info.framework_version,
            instance_type=info.instance_type if provider != DEFAULT_PROVIDER else None,
            instance_count=info.instance_count, hyperparameters=dict(info.hyperparameters),
            provider=provider, provider_options=provider_options,
        )
        est._provider = instance
        est.latest_job = Job(instance, job_name)
        return est

    @staticmethod
    def _fetch_code(provider: Provider, code_uri: str | None, job_name: str) -> Path:
        if not code_uri:
            raise ValidationError("job_name", f"job {job_name} records no code bundle to rebuild from")
        dest = cache_dir() / "attached" / job_name
        if not dest.is_dir():  # built in a private folder, then renamed: a crash never leaves half a tree here
            import tempfile

            dest.parent.mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(prefix=f".{job_name}.", dir=dest.parent))
            try:
                archive = work / "code.tar.gz"
                provider.download(code_uri, str(archive))
                code = work / "code"
                packaging.safe_extract(archive, code)
                # the bundle's runtime files are cloudml's, not the user's: a re-fit or deploy adds them again
                for name in packaging.RESERVED:
                    path = code / name
                    if path.is_dir():
                        shutil.rmtree(path)
                    elif path.exists():
                        path.unlink()
                try:
                    os.rename(code, dest)
                except OSError:
                    if not dest.is_dir():  # another attach of this job got there first: keep its copy
                        raise
            finally:
                shutil.rmtree(work, ignore_errors=True)
        return dest


class PyTorch(Estimator):
    """``Estimator`` with ``framework="pytorch"``."""

    def __init__(self, entry_point: str, source_dir: str | os.PathLike[str] = ".",
                 framework_version: str | None = None, **kwargs: Any):
        super().__init__(entry_point, source_dir, "pytorch", framework_version, **kwargs)


class TensorFlow(Estimator):
    """``Estimator`` with ``framework="tensorflow"``."""

    def __init__(self, entry_point: str, source_dir: str | os.PathLike[str] = ".",
                 framework_version: str | None = None, **kwargs: Any):
        super().__init__(entry_point, source_dir, "tensorflow", framework_version, **kwargs)
