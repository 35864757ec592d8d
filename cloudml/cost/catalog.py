"""The price catalog: one validated row per offer, with provenance, layered from three sources.

Layers, later replacing earlier rows with the same key:
1. the bundled snapshot ``cloudml/cost/data/catalog.csv`` (package data; regenerate with ``cloudml.cost.seed``);
2. the refresh cache ``<user cache dir>/catalog.csv`` written by ``cloudml catalog refresh``;
3. the user override file: ``load_catalog(path)`` or the ``CLOUDML_CATALOG`` environment variable.

Invariants:
- every ``Offer`` in ``Catalog.rows`` passed validation: known provider and capacity, a canonical accelerator
  name (or none) with a count that agrees with the known instance table, a finite positive non-placeholder
  price, a source and an ``observed_at`` date (when the price was seen at its source; an old ``as_of`` column is
  read as ``observed_at``); a spot row is cheaper than its on-demand twin; a managed price is not below the VM
  price it is built on (``vm_price_usd_hour``); of two on-demand offers in one region where one is the larger
  variant (more memory per device of the same chip, or more devices of the same per-device shape in one
  family), the larger is not cheaper per accelerator-hour unless its ``price_reason`` says why (otherwise the
  row observed earlier, or else the larger, is dropped as stale);
- lifecycle: ``available`` | ``retiring`` | ``retired`` with ``retires_on``, from the row or from
  ``instances.RETIREMENTS``; retired rows are never in ``rows`` (dropped with the reason), retiring rows are
  kept and flagged;
- nothing is dropped silently: every rejected row lands in ``Catalog.dropped`` with its reason;
- the key of an offer is (provider, instance_type, accelerator, accelerator_count, region, capacity);
  within one layer a repeated key is a duplicate and dropped; across layers it is a replacement;
- prices are USD per instance-hour; ``derived=True`` means we computed the price and ``formula`` says how;
  ``notes`` are for maintainers and never shown in plans.

Managed-service premiums, used only where no managed price is sourced (rows then say ``derived=True``):
- ``SAGEMAKER_PREMIUM = 1.25``: SageMaker ml.* list / EC2 list for the same type, measured on sourced pairs
  (ml.m5.xlarge 1.20, ml.g5.xlarge 1.40, ml.g5.12xlarge 1.25, ml.g6.12xlarge 1.25, ml.p3.2xlarge 1.25,
  ml.trn1.32xlarge 1.325, ml.p4d/ml.p5 1.15 against pre-cut EC2): the median;
- ``VERTEX_PREMIUM = 1.15``: Vertex AI custom training / Compute Engine for the same machine+accelerators
  (shared/PROVIDER_NOTES.md: 1.15-1.2; the low end, so Vertex is never ranked worse than the evidence says);
- ``AZUREML_PREMIUM = 1.0``: Azure ML bills the VM price, no surcharge.
Managed spot (SageMaker managed spot, Vertex Spot VMs) = managed on-demand x (VM spot / VM on-demand).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from pathlib import Path

from cloudml import accelerators
from cloudml.cost import instances
from cloudml.errors import ValidationError

CAPACITIES = ("on_demand", "spot")
LIFECYCLES = ("available", "retiring", "retired")
SAGEMAKER_PREMIUM = 1.25
VERTEX_PREMIUM = 1.15
AZUREML_PREMIUM = 1.0
# Prices that public catalogs use as "unknown": seen in the SkyPilot GCP catalog for TPU v6e in some regions.
PLACEHOLDER_PRICES = frozenset({700.0})
BUNDLED = Path(__file__).with_name("data") / "catalog.csv"


@dataclass(frozen=True)
class Offer:
    provider: str                 # sagemaker | vertex | azureml
    instance_type: str
    region: str
    accelerator: str | None       # canonical name from cloudml.accelerators, None for CPU-only
    accelerator_count: int        # devices per instance (TPU: chips)
    accelerator_memory_gib: float | None   # per device
    vcpus: float | None
    memory_gib: float | None
    price_usd_hour: float         # per instance
    capacity: str                 # on_demand | spot
    source: str                   # where the price came from (repo:path@commit, URL or API)
    observed_at: str              # ISO date the price was seen at its source
    derived: bool = False
    formula: str = ""             # how a derived price was computed (shown to users)
    vm_price_usd_hour: float | None = None   # the VM price a managed price is built on, for the managed >= VM check
    lifecycle: str = "available"  # available | retiring | retired
    retires_on: str = ""          # ISO date, for retiring/retired rows
    price_reason: str = ""        # a sourced reason a larger variant is cheaper per accelerator-hour
    notes: str = ""               # maintainer notes, never printed in plans

    @property
    def as_of(self) -> str:       # the old name, kept for callers
        return self.observed_at

    @property
    def key(self) -> tuple[str, str, str, int, str, str]:
        return (self.provider, self.instance_type, self.accelerator or "", self.accelerator_count,
                self.region, self.capacity)

    @property
    def spot(self) -> bool:
        return self.capacity == "spot"

    @property
    def label(self) -> str:
        acc = f" {self.accelerator}x{self.accelerator_count}" if self.accelerator else ""
        return f"{self.provider}:{self.instance_type}{acc} {self.region} {self.capacity}"

    def to_row(self) -> dict[str, str]:
        out = {}
        for name, value in asdict(self).items():
            if value is None:
                out[name] = ""
            elif isinstance(value, bool):
                out[name] = "true" if value else "false"
            else:
                out[name] = str(value)
        return out


FIELDS = tuple(f.name for f in fields(Offer))


def price_age(offers: Iterable[Offer], today: date | None = None) -> str:
    """How old the prices in ``offers`` are, for every printed table: "prices observed 2026-11-23 to
    2026-12-01 (0-8 days old)"."""
    days = sorted({o.observed_at for o in offers})
    if not days:
        return "no prices"
    today = today or date.today()
    ages = [(today - date.fromisoformat(d)).days for d in (days[0], days[-1])]
    span = days[0] if days[0] == days[-1] else f"{days[0]} to {days[-1]}"
    age = f"{ages[1]}" if ages[0] == ages[1] else f"{ages[1]}-{ages[0]}"
    return f"prices observed {span} ({age} days old)"


@dataclass(frozen=True)
class Catalog:
    rows: tuple[Offer, ...]
    dropped: list[tuple[Mapping[str, str], str]]
    _index: dict = field(default_factory=dict, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, accelerator: str | None = None, capacity: str | None = None) -> tuple[Offer, ...]:
        """The rows with this accelerator (None: any) and capacity (None: any), from an index built on first use."""
        key = (accelerator, capacity)
        hit = self._index.get(key)
        if hit is None:
            hit = tuple(o for o in self.rows if (accelerator is None or o.accelerator == accelerator)
                        and (capacity is None or o.capacity == capacity))
            self._index[key] = hit
        return hit


def _number(row: Mapping[str, str], name: str, required: bool = False) -> float | None:
    text = (row.get(name) or "").strip()
    if not text:
        if required:
            raise ValueError(f"{name} is empty")
        return None
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{name} is not a finite number: {text!r}")
    return value


def parse_row(row: Mapping[str, str]) -> Offer:
    """One CSV row -> ``Offer``; ``ValueError`` says what is wrong with it. Missing shape fields are filled
    from the known instance table and the accelerator table."""
    provider = (row.get("provider") or "").strip().lower()
    if provider not in instances.PROVIDERS:
        raise ValueError(f"unknown provider {provider!r} (expected one of {', '.join(instances.PROVIDERS)})")
    instance_type = (row.get("instance_type") or "").strip()
    region = (row.get("region") or "").strip()
    if not instance_type or not region:
        raise ValueError("instance_type and region must not be empty")
    capacity = (row.get("capacity") or "on_demand").strip().lower().replace("-", "_")
    if capacity not in CAPACITIES:
        raise ValueError(f"capacity {capacity!r} is not one of {', '.join(CAPACITIES)}")
    acc_text = (row.get("accelerator") or "").strip()
    try:
        accelerator = accelerators.canonical(acc_text) if acc_text else None
    except ValidationError:
        raise ValueError(f"unknown accelerator {acc_text!r}") from None
    count_value = _number(row, "accelerator_count")
    count = int(count_value) if count_value is not None else (1 if accelerator else 0)
    if count_value is not None and count != count_value:
        raise ValueError(f"accelerator_count {count_value} is not a whole number")
    if accelerator and count < 1:
        raise ValueError(f"{accelerator} with accelerator_count {count}")
    if not accelerator and count != 0:
        raise ValueError(f"accelerator_count {count} but no accelerator named")
    reason = instances.contradiction(provider, instance_type, accelerator, count)
    if reason:
        raise ValueError(f"accelerator count contradicts the instance table: {reason}")
    price = _number(row, "price_usd_hour", required=True)
    assert price is not None
    if price <= 0:
        raise ValueError(f"price {price} is not positive")
    if price in PLACEHOLDER_PRICES:
        raise ValueError(f"price {price} is a known placeholder value")
    source = (row.get("source") or "").strip()
    observed = (row.get("observed_at") or row.get("as_of") or "").strip()
    if not source or not observed:
        raise ValueError("every row needs a source and an observed_at date")
    try:
        date.fromisoformat(observed)
    except ValueError:
        raise ValueError(f"observed_at {observed!r} is not an ISO date (YYYY-MM-DD)") from None
    derived = (row.get("derived") or "").strip().lower() in ("true", "1", "yes")
    formula = (row.get("formula") or "").strip()
    if derived and not formula and not (row.get("notes") or "").strip():
        raise ValueError("a derived row needs its formula")
    lifecycle, retires_on = _lifecycle(provider, instance_type, row)
    vm_price = _number(row, "vm_price_usd_hour")
    if vm_price is not None and price < vm_price * 0.999:
        raise ValueError(f"managed price {price:g} is below the VM price {vm_price:g} it is built on")
    shape = instances.shape_of(provider, instance_type, accelerator)
    vcpus = _number(row, "vcpus")
    memory = _number(row, "memory_gib")
    acc_mem = _number(row, "accelerator_memory_gib")
    return Offer(
        provider=provider, instance_type=instance_type, region=region, accelerator=accelerator,
        accelerator_count=count,
        accelerator_memory_gib=acc_mem if acc_mem is not None else instances.accelerator_memory(accelerator),
        vcpus=vcpus if vcpus is not None else (shape.vcpus if shape else None),
        memory_gib=memory if memory is not None else (shape.memory_gib if shape else None),
        price_usd_hour=price, capacity=capacity, source=source, observed_at=observed, derived=derived,
        formula=formula or ((row.get("notes") or "").strip() if derived else ""), vm_price_usd_hour=vm_price,
        lifecycle=lifecycle, retires_on=retires_on, price_reason=(row.get("price_reason") or "").strip(),
        notes=(row.get("notes") or "").strip(),
    )


def _lifecycle(provider: str, instance_type: str, row: Mapping[str, str]) -> tuple[str, str]:
    """(lifecycle, retires_on) from the row, else from ``instances.RETIREMENTS``, judged against today."""
    stated = (row.get("lifecycle") or "").strip().lower()
    when = (row.get("retires_on") or "").strip()
    known = instances.RETIREMENTS.get((provider, instance_type))
    if known and not when:
        when = known[0]
    if stated and stated not in LIFECYCLES:
        raise ValueError(f"lifecycle {stated!r} is not one of {', '.join(LIFECYCLES)}")
    if when:
        try:
            retire_day = date.fromisoformat(when)
        except ValueError:
            raise ValueError(f"retires_on {when!r} is not an ISO date") from None
        return ("retired" if retire_day <= date.today() else "retiring"), when
    if stated in ("retiring", "retired"):
        raise ValueError(f"lifecycle {stated} needs a retires_on date")
    return "available", ""


def _parse_layer(rows: Iterable[Mapping[str, str]], origin: str,
                 dropped: list[tuple[Mapping[str, str], str]]) -> dict[tuple, Offer]:
    layer: dict[tuple, Offer] = {}
    for row in rows:
        try:
            offer = parse_row(row)
        except (ValueError, TypeError) as exc:
            dropped.append((dict(row), f"{origin}: {exc}"))
            continue
        if offer.key in layer:
            dropped.append((dict(row), f"{origin}: duplicate key {offer.label} (first row kept)"))
            continue
        layer[offer.key] = offer
    return layer


def _drop_bad_spot(merged: dict[tuple, Offer], dropped: list[tuple[Mapping[str, str], str]]) -> None:
    for key, offer in list(merged.items()):
        if offer.capacity != "spot":
            continue
        twin = merged.get(key[:5] + ("on_demand",))
        if twin is not None and offer.price_usd_hour >= twin.price_usd_hour:
            del merged[key]
            dropped.append((offer.to_row(), f"spot price {offer.price_usd_hour} is not below on-demand "
                                            f"{twin.price_usd_hour} for {offer.label} (placeholder or stale)"))


_SAME_CHIP = {"A100-80GB": "A100", "V100-32GB": "V100"}     # larger-memory part -> the smaller part


def _per_device(o: Offer) -> float:
    return o.price_usd_hour / o.accelerator_count


def _larger(a: Offer, b: Offer) -> bool:
    """Is ``b`` the larger variant of ``a`` (same region/provider/capacity already)?"""
    if a.accelerator is None or b.accelerator is None:
        return False
    if _SAME_CHIP.get(b.accelerator) == a.accelerator and a.accelerator_count == b.accelerator_count:
        return True
    if (a.accelerator == b.accelerator and b.accelerator_count > a.accelerator_count
            and instances.family(a.instance_type) == instances.family(b.instance_type)
            and a.vcpus and b.vcpus and abs(a.vcpus / a.accelerator_count - b.vcpus / b.accelerator_count) < 1e-6):
        return True
    return False


def inverted_pairs(offers: Iterable[Offer]) -> list[tuple[Offer, Offer]]:
    """(smaller, larger) on-demand pairs in one provider/region where the larger variant is cheaper per
    accelerator-hour (by more than 2%) and carries no ``price_reason``."""
    groups: dict[tuple[str, str], list[Offer]] = {}
    for o in offers:
        if o.capacity == "on_demand" and o.accelerator:
            groups.setdefault((o.provider, o.region), []).append(o)
    out = []
    for group in groups.values():
        for a in group:
            for b in group:
                if a is not b and not b.price_reason and _larger(a, b) and _per_device(b) < _per_device(a) * 0.98:
                    out.append((a, b))
    return out


def _drop_inverted_variants(merged: dict[tuple, Offer], dropped: list[tuple[Mapping[str, str], str]]) -> None:
    for a, b in inverted_pairs(list(merged.values())):
        if a.key not in merged or b.key not in merged:
            continue
        stale = a if a.observed_at < b.observed_at else b
        del merged[stale.key]
        dropped.append((stale.to_row(), (
            f"{b.label} (larger variant) costs ${_per_device(b):.3f} per accelerator-hour, less than "
            f"{a.label} at ${_per_device(a):.3f}, with no price_reason: {stale.instance_type} "
            f"(observed {stale.observed_at}) dropped as stale")))


def _drop_retired(merged: dict[tuple, Offer], dropped: list[tuple[Mapping[str, str], str]]) -> None:
    for key, o in list(merged.items()):
        if o.lifecycle == "retired":
            del merged[key]
            dropped.append((o.to_row(), f"{o.instance_type} retired on {o.retires_on}: never offered"))


def build(layers: Iterable[tuple[str, Iterable[Mapping[str, str]]]]) -> Catalog:
    """Validate and merge ``(origin, rows)`` layers in order; later layers replace earlier keys."""
    dropped: list[tuple[Mapping[str, str], str]] = []
    merged: dict[tuple, Offer] = {}
    for origin, rows in layers:
        merged.update(_parse_layer(rows, origin, dropped))
    _drop_retired(merged, dropped)
    _drop_bad_spot(merged, dropped)
    _drop_inverted_variants(merged, dropped)
    ordered = sorted(merged.values(), key=lambda o: (o.provider, o.instance_type, o.region, o.capacity,
                                                     o.accelerator or "", o.accelerator_count))
    return Catalog(rows=tuple(ordered), dropped=dropped)


def read_csv(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_csv(offers: Iterable[Offer], path: str | os.PathLike[str] | None = None) -> str:
    """Write offers as catalog CSV to ``path`` (atomically) and return the text."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for offer in offers:
        writer.writerow(offer.to_row())
    text = buf.getvalue()
    if path is not None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    return text


def cache_path() -> Path:
    """Where ``catalog refresh`` writes: ``<cache dir>/catalog.csv`` (``CLOUDML_CACHE_DIR`` or the user cache dir,
    as ``cloudml.config.cache_dir``; on Linux worked out here without importing that module and platformdirs,
    which cost a cold ``cloudml cost compare`` more than the rest of the catalog; a test keeps the two equal)."""
    chosen = os.environ.get("CLOUDML_CACHE_DIR")
    if chosen:
        return Path(chosen) / "catalog.csv"
    if sys.platform.startswith("linux"):
        xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
        base = Path(xdg) if xdg else Path.home() / ".cache"
        return base / "cloudml" / "catalog.csv"
    from cloudml.config import cache_dir

    return cache_dir() / "catalog.csv"


def override_path(path: str | os.PathLike[str] | None = None) -> Path | None:
    chosen = path if path is not None else os.environ.get("CLOUDML_CATALOG")
    return Path(chosen) if chosen else None


_LOADED: dict[tuple, Catalog] = {}
# The validated catalog is also kept between processes (``marshal``, stdlib, no import cost) next to the refresh
# cache, keyed on the inputs' paths and mtimes, this module, the validation rules' version and today's date (a
# retiring row becomes retired on its date): a cold ``cloudml cost compare`` skips parsing and validating.
VALIDATED_FILE = "catalog.validated.marshal"
VALIDATED_VERSION = 1


def _read_validated(path: Path, key: str) -> Catalog | None:
    import marshal

    try:
        with open(path, "rb") as fh:
            data = marshal.load(fh)
        if data.get("key") != key:
            return None
        rows = tuple(Offer(*values) for values in data["rows"])
        return Catalog(rows=rows, dropped=[(dict(row), reason) for row, reason in data["dropped"]])
    except (OSError, EOFError, ValueError, TypeError, KeyError, AttributeError):
        return None


def _write_validated(path: Path, key: str, catalog: Catalog) -> None:
    import marshal

    data = {"key": key, "rows": [tuple(getattr(o, f) for f in FIELDS) for o in catalog.rows],
            "dropped": [(dict(row), reason) for row, reason in catalog.dropped]}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            marshal.dump(data, fh)
        os.replace(tmp, path)
    except (OSError, ValueError):
        pass                      # a read-only cache dir only costs the next process a re-parse


def _stamp(p: Path | None) -> tuple[str, float] | None:
    if p is None:
        return None
    try:
        return (str(p), p.stat().st_mtime)
    except OSError:
        return (str(p), -1.0)


def load_catalog(path: str | os.PathLike[str] | None = None, *, verbose: bool = False) -> Catalog:
    """Bundled snapshot, then the refresh cache, then the override file (``path`` or ``CLOUDML_CATALOG``).

    Cached in-process until one of the files changes. A missing override file is a ``ValidationError``.
    With ``verbose`` each dropped row and its reason is printed to stderr.
    """
    override = override_path(path)
    if override is not None and not override.is_file():
        raise ValidationError("catalog", f"override file {str(override)!r} does not exist",
                              "set CLOUDML_CATALOG or --catalog to a CSV with the catalog columns")
    cache = cache_path()
    stamp = (_stamp(BUNDLED), _stamp(cache), _stamp(override))
    catalog = _LOADED.get(stamp)
    if catalog is None:
        key = repr((VALIDATED_VERSION, _stamp(Path(__file__)), date.today().isoformat(), stamp))
        catalog = _read_validated(cache.with_name(VALIDATED_FILE), key)
        if catalog is None:
            layers: list[tuple[str, Iterable[Mapping[str, str]]]] = [("bundled", read_csv(BUNDLED))]
            if cache.is_file():
                layers.append((f"cache {cache}", read_csv(cache)))
            if override is not None:
                layers.append((f"override {override}", read_csv(override)))
            catalog = build(layers)
            _write_validated(cache.with_name(VALIDATED_FILE), key, catalog)
        _LOADED.clear()
        _LOADED[stamp] = catalog
    if verbose:
        for row, reason in catalog.dropped:
            print(f"dropped {row.get('provider', '?')}:{row.get('instance_type', '?')} "
                  f"{row.get('region', '?')} {row.get('capacity', '?')}: {reason}", file=sys.stderr)
    return catalog


def price_of(provider: str, instance_type: str, region: str | None = None, spot: bool = False, *,
             accelerator: str | None = None, catalog: Catalog | None = None) -> Offer | None:
    """The catalog offer for ``instance_type`` on ``provider`` in ``region`` (the cheapest region when None),
    or None when the catalog has no price for it there. For hosts that take attachable accelerators
    (Vertex ``n1-standard-8``) pass ``accelerator`` ("T4:2"); without it the bare host is priced."""
    catalog = catalog if catalog is not None else load_catalog()
    capacity = "spot" if spot else "on_demand"
    acc_name, acc_count = accelerators.parse(accelerator) if accelerator else (None, 0)
    pool = [o for o in catalog.rows if o.provider == provider and o.instance_type == instance_type
            and o.capacity == capacity and (region is None or o.region == region)]
    exact = [o for o in pool if (o.accelerator, o.accelerator_count) == (acc_name, acc_count)]
    if instances.ATTACHABLE.get((provider, instance_type)) is not None or accelerator:
        pool = exact
    return min(pool, key=lambda o: o.price_usd_hour) if pool else None
