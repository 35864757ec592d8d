"""``cloudml catalog refresh``: pull current list prices from the providers' price APIs into the user cache.

Each API is queried as documented, and its credential need is checked (and stated) before the first call:

- SageMaker (needs AWS credentials: ``pricing:GetProducts``, ``ec2:DescribeSpotPriceHistory``; boto3's usual chain).
  AWS Price List ``GetProducts`` (us-east-1 endpoint), service ``AmazonSageMaker``, ``TERM_MATCH`` filters
  ``regionCode`` and ``component=Training``; only ``OnDemand`` terms are read (``Reserved`` terms never). Types the
  SageMaker list lacks are priced from ``AmazonEC2`` with the filters that select plain on-demand capacity
  (``operatingSystem=Linux``, ``tenancy=Shared``, ``preInstalledSw=NA``, ``licenseModel=No License required``,
  ``capacitystatus=Used``, ``marketoption=OnDemand``) and, in case a filter is ignored, products whose
  ``usagetype`` is not ``...BoxUsage:<type>`` are skipped (Capacity Blocks, reservations, dedicated hosts) x
  ``SAGEMAKER_PREMIUM`` (``derived``). Spot (managed spot training): EC2 ``DescribeSpotPriceHistory`` (Linux/UNIX,
  latest price per AZ, the lowest AZ) x (SageMaker on-demand / EC2 on-demand) (``derived``).
- Vertex AI (needs an API key in ``CLOUDML_GCP_API_KEY`` or an OAuth token in ``CLOUDML_GCP_ACCESS_TOKEN``: the
  Cloud Billing Catalog API refuses anonymous calls). Vertex AI's own SKUs (service ``C7E2-9256-1C43``, training
  SKUs) first: a machine's price = vCPUs x core SKU + GiB x RAM SKU + GPUs x GPU SKU (``derived=False``: the
  service's own price list, summed the way it bills). Where Vertex has no SKU for a component, Compute Engine's
  (``6F81-5844-456A``) x ``VERTEX_PREMIUM`` (``derived``). Spot = the ``Preemptible`` usage type. TPUs: v5e, v5p
  and v6e per chip-hour from the Compute Engine SKUs (``TpuV5e``/``TpuV5p``/``TpuV6e``; spot SKUs say
  ``Preemptible`` in the description), v2/v3 per 8-core device (= 4 chips) from the Cloud TPU service
  (``E000-3F24-B8AA``); TPU v4 is priced per pod there and is not refreshed (the bundled rows stay).
- Azure ML (no credential: the Retail Prices API is public). ``GET prices?api-version=2023-01-01-preview`` with an
  OData ``$filter`` on ``serviceName``, ``armRegionName``, ``priceType eq 'Consumption'`` and the known
  ``armSkuName`` values; ``NextPageLink`` followed. Linux meters only (``productName`` without ``Windows``);
  Azure ML's low-priority tier bills the ``... Low Priority`` meter, so that is the spot price, else the
  ``... Spot`` meter; Azure ML bills the VM price (``derived=False``).

Invariants: nothing but boto3 (inside the SageMaker fetchers) and ``urllib.request`` talk to the network; base
URLs are overridable (``CLOUDML_AWS_PRICING_ENDPOINT``, ``CLOUDML_AWS_EC2_ENDPOINT``, ``CLOUDML_GCP_BILLING_URL``,
``CLOUDML_AZURE_PRICES_URL``) so tests point them at local fakes; fetched rows are validated like any other layer
before they are written; refreshing one provider keeps the cached rows of the others; every row's
``observed_at`` is the day it was fetched.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cloudml.cost import instances
from cloudml.cost.catalog import (
    SAGEMAKER_PREMIUM,
    VERTEX_PREMIUM,
    Offer,
    build,
    cache_path,
    read_csv,
    write_csv,
)
from cloudml.errors import CloudMLError, CredentialsError, MissingDependencyError

GCP_BILLING_URL = "https://cloudbilling.googleapis.com/v1"
GCP_COMPUTE_SERVICE = "services/6F81-5844-456A"
GCP_VERTEX_SERVICE = "services/C7E2-9256-1C43"
GCP_TPU_SERVICE = "services/E000-3F24-B8AA"
AZURE_PRICES_URL = "https://prices.azure.com/api/retail/prices"
AZURE_API_VERSION = "2023-01-01-preview"
DEFAULT_REGIONS = {"sagemaker": ("us-east-1",), "vertex": ("us-central1",), "azureml": ("eastus",)}
TIMEOUT_S = 60
EC2_ON_DEMAND = {"operatingSystem": "Linux", "tenancy": "Shared", "preInstalledSw": "NA",
                 "licenseModel": "No License required", "capacitystatus": "Used", "marketoption": "OnDemand"}


class RefreshError(CloudMLError, RuntimeError):
    """A price API could not be read or answered with something we cannot parse."""


def _offer(provider: str, itype: str, region: str, shape: instances.Shape, price: float, capacity: str,
           source: str, observed: str, derived: bool, formula: str = "", notes: str = "",
           vm: float | None = None) -> Offer:
    return Offer(provider=provider, instance_type=itype, region=region, accelerator=shape.accelerator,
                 accelerator_count=shape.count, accelerator_memory_gib=instances.accelerator_memory(shape.accelerator),
                 vcpus=shape.vcpus, memory_gib=shape.memory_gib, price_usd_hour=round(price, 6), capacity=capacity,
                 source=source, observed_at=observed, derived=derived, formula=formula, notes=notes,
                 vm_price_usd_hour=round(vm, 6) if vm is not None else None)


# ---------------------------------------------------------------- AWS Price List + EC2 spot (boto3)

def _aws_products(client, service: str, filters: dict[str, str]) -> Iterable[dict]:
    request = {"ServiceCode": service, "FormatVersion": "aws_v1",
               "Filters": [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in filters.items()]}
    for page in client.get_paginator("get_products").paginate(**request):
        for item in page.get("PriceList", []):
            yield json.loads(item) if isinstance(item, str) else item


def _aws_hourly_usd(product: dict) -> float | None:
    """The on-demand hourly USD price; ``Reserved`` terms are never read."""
    for term in product.get("terms", {}).get("OnDemand", {}).values():
        for dim in term.get("priceDimensions", {}).values():
            usd = dim.get("pricePerUnit", {}).get("USD")
            if usd is not None and dim.get("unit", "Hrs").lower().startswith("hr") and float(usd) > 0:
                return float(usd)
    return None


def _plain_on_demand(attrs: dict[str, str], ec2_type: str) -> bool:
    usage = attrs.get("usagetype", "")
    return (usage.endswith(f"BoxUsage:{ec2_type}") and attrs.get("marketoption", "OnDemand") == "OnDemand"
            and attrs.get("capacitystatus", "Used") == "Used" and attrs.get("tenancy", "Shared") == "Shared")


def _aws_clients():
    try:
        import boto3
    except ImportError:
        raise MissingDependencyError("sagemaker", "boto3") from None
    session = boto3.session.Session()
    if session.get_credentials() is None:
        raise CredentialsError("refresh sagemaker needs AWS credentials (the Price List and EC2 APIs sign every "
                               "call): set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; the identity needs "
                               "pricing:GetProducts and ec2:DescribeSpotPriceHistory")
    pricing = session.client("pricing", region_name="us-east-1",
                             endpoint_url=os.environ.get("CLOUDML_AWS_PRICING_ENDPOINT") or None)
    return session, pricing


def ec2_spot_prices(ec2, types: Sequence[str]) -> dict[str, tuple[float, str]]:
    """{ec2 type: (lowest current Linux spot price over the region's AZs, that AZ)} from DescribeSpotPriceHistory."""
    latest: dict[tuple[str, str], tuple[str, float]] = {}
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=6)
    paginator = ec2.get_paginator("describe_spot_price_history")
    for page in paginator.paginate(InstanceTypes=list(types), ProductDescriptions=["Linux/UNIX"], StartTime=start):
        for item in page.get("SpotPriceHistory", []):
            key = (item["InstanceType"], item["AvailabilityZone"])
            stamp = str(item.get("Timestamp", ""))
            if key not in latest or stamp > latest[key][0]:
                latest[key] = (stamp, float(item["SpotPrice"]))
    out: dict[str, tuple[float, str]] = {}
    for (itype, zone), (_stamp, price) in latest.items():
        if price > 0 and (itype not in out or price < out[itype][0]):
            out[itype] = (price, zone)
    return out


def fetch_sagemaker(regions: Sequence[str], observed: str) -> list[Offer]:
    session, client = _aws_clients()
    known = {t: s for (p, t), s in instances.FIXED.items() if p == "sagemaker"}
    offers: list[Offer] = []
    for region in regions:
        on_demand: dict[str, tuple[float, str, bool, float | None]] = {}   # type -> (price, source, derived, ec2)
        for product in _aws_products(client, "AmazonSageMaker", {"regionCode": region, "component": "Training"}):
            attrs = product.get("product", {}).get("attributes", {})
            itype = attrs.get("instanceName") or attrs.get("instanceType")
            kind = " ".join(attrs.get(k, "") for k in ("component", "usagetype")).lower()
            if itype not in known or itype in on_demand or "train" not in kind or "spot" in kind:
                continue
            listed = _aws_hourly_usd(product)
            if listed is not None:
                sku = product.get("product", {}).get("sku", "?")
                on_demand[itype] = (listed, f"AWS Price List GetProducts AmazonSageMaker sku {sku}", False, None)
        ec2_od: dict[str, tuple[float, str]] = {}
        for itype in sorted(known):
            ec2_type = itype.removeprefix("ml.")
            for product in _aws_products(client, "AmazonEC2", {"regionCode": region, "instanceType": ec2_type,
                                                               **EC2_ON_DEMAND}):
                attrs = product.get("product", {}).get("attributes", {})
                vm_listed = _aws_hourly_usd(product)
                if vm_listed is None or not _plain_on_demand(attrs, ec2_type):
                    continue
                ec2_od[itype] = (vm_listed, product.get("product", {}).get("sku", "?"))
                break
        for itype, (ec2_price, sku) in ec2_od.items():
            if itype in on_demand:
                sm_price, src, _d, _ = on_demand[itype]
                on_demand[itype] = (sm_price, src, False, ec2_price)
            else:
                on_demand[itype] = (ec2_price * SAGEMAKER_PREMIUM, f"AWS Price List GetProducts AmazonEC2 sku {sku}",
                                    True, ec2_price)
        for itype, (price, src, derived, vm_price) in sorted(on_demand.items()):
            formula = f"EC2 {itype[3:]} {vm_price:g} x SAGEMAKER_PREMIUM {SAGEMAKER_PREMIUM}" if derived else ""
            offers.append(_offer("sagemaker", itype, region, known[itype], price, "on_demand", src, observed, derived,
                                 formula, vm=vm_price))
        ec2 = session.client("ec2", region_name=region, endpoint_url=os.environ.get("CLOUDML_AWS_EC2_ENDPOINT") or None)
        with_ec2 = {t: v for t, v in on_demand.items() if t in ec2_od}
        spot = ec2_spot_prices(ec2, [t[3:] for t in with_ec2]) if with_ec2 else {}
        for itype, (price, _src, _d, od_vm) in sorted(with_ec2.items()):
            if itype[3:] not in spot or not od_vm:
                continue
            ec2_price = od_vm
            spot_price, zone = spot[itype[3:]]
            if spot_price >= ec2_price:
                continue
            offers.append(_offer("sagemaker", itype, region, known[itype], price * spot_price / ec2_price, "spot",
                                 f"EC2 DescribeSpotPriceHistory {itype[3:]} {zone}", observed, True,
                                 f"managed spot = SageMaker on-demand {price:g} x EC2 spot/on-demand "
                                 f"{spot_price:g}/{ec2_price:g}", vm=spot_price))
    return offers


# ---------------------------------------------------------------- HTTP helper (GCP, Azure)

def _get_json(url: str, headers: dict[str, str] | None = None) -> dict:
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "cloudml-refresh",
                                                   **(headers or {})})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        return json.loads(response.read().decode("utf-8"))


# ---------------------------------------------------------------- GCP Cloud Billing Catalog

_GPU = re.compile(r"\bNvidia (?:Tesla )?(T4|V100|A100 80GB|A100|L4|H100 80GB|H100)\b", re.IGNORECASE)
_HOST = re.compile(r"(?:^|: |\b)(?:Spot Preemptible |Preemptible )?(N1|A2|A3|G2) (?:Predefined )?Instance (Core|Ram)\b",
                   re.IGNORECASE)
_TPU = re.compile(r"\bTpu(?:V(5e|5p|6e)|-(v2|v3))\b", re.IGNORECASE)
_SKIP = re.compile(r"commit|reserv|dws|sole tenancy|custom instance|extended|premium|calendar|flex", re.IGNORECASE)
_GPU_NAMES = {"T4": "T4", "V100": "V100", "A100": "A100", "A100 80GB": "A100-80GB", "L4": "L4",
              "H100": "H100", "H100 80GB": "H100"}
_TPU_NAMES = {"5e": "TPU-V5E", "5p": "TPU-V5P", "6e": "TPU-V6E", "v2": "TPU-V2", "v3": "TPU-V3"}
_TPU_CHIPS_PER_SKU = {"TPU-V2": 4, "TPU-V3": 4}       # v2/v3 SKUs price one 8-core device (4 chips); others a chip


def _gcp_unit_price(sku: dict) -> float | None:
    for info in sku.get("pricingInfo", [])[:1]:
        rates = info.get("pricingExpression", {}).get("tieredRates", [])
        for rate in reversed(rates):            # the last tier is the list rate past any free tier
            money = rate.get("unitPrice", {})
            value = int(money.get("units") or 0) + int(money.get("nanos") or 0) / 1e9
            if value > 0:
                return value
    return None


def gcp_components(skus: Iterable[dict], training_only: bool = False) -> dict[tuple[str, str, str], tuple[float, str]]:
    """{(region, capacity, component): (USD per unit-hour, sku id)}; components 'n1-core', 'a2-ram', 'gpu-T4',
    'tpu-TPU-V5E' (per chip). ``training_only`` keeps Vertex training SKUs (their description says Training)."""
    out: dict[tuple[str, str, str], tuple[float, str]] = {}
    for sku in skus:
        category = sku.get("category", {})
        desc = sku.get("description", "")
        usage = category.get("usageType", "")
        if usage not in ("OnDemand", "Preemptible") or _SKIP.search(desc):
            continue
        if training_only and "training" not in desc.lower():
            continue
        capacity = "spot" if usage == "Preemptible" or "preemptible" in desc.lower() else "on_demand"
        host, gpu, tpu = _HOST.search(desc), _GPU.search(desc), _TPU.search(desc)
        if tpu:
            component = "tpu-" + _TPU_NAMES[(tpu.group(1) or tpu.group(2)).lower()]
            if " pod" in desc.lower():
                continue
        elif host:
            component = f"{host.group(1).lower()}-{host.group(2).lower()}"
        elif gpu and "gpu" in desc.lower():
            component = "gpu-" + _GPU_NAMES[gpu.group(1).upper()]
        else:
            continue
        price = _gcp_unit_price(sku)
        if price is None:
            continue
        if component in ("tpu-TPU-V2", "tpu-TPU-V3"):
            price /= _TPU_CHIPS_PER_SKU[component[4:]]
        for region in sku.get("serviceRegions", []):
            out.setdefault((region, capacity, component), (price, sku.get("skuId", "?")))
    return out


def _vertex_machines() -> list[tuple[str, instances.Shape]]:
    machines = [(t, s) for (p, t), s in instances.FIXED.items()
                if p == "vertex" and (t[:2] in ("n1", "a2", "a3", "g2") or t.startswith(("ct5lp", "ct5p", "ct6e")))]
    for (p, t), (host, allowed) in instances.ATTACHABLE.items():
        if p != "vertex":
            continue
        if t.startswith("n1"):
            machines.append((t, host))
        for acc, counts in allowed.items():
            machines += [(t, instances.Shape(acc, c, host.vcpus, host.memory_gib)) for c in counts]
    return machines


def _gcp_auth() -> tuple[dict[str, str], dict[str, str]]:
    """(query, headers) carrying the credential; refuses before any call when there is none."""
    key, token = os.environ.get("CLOUDML_GCP_API_KEY"), os.environ.get("CLOUDML_GCP_ACCESS_TOKEN")
    if token:
        return {}, {"Authorization": f"Bearer {token}"}
    if key:
        return {"key": key}, {}
    raise CredentialsError("refresh vertex needs a credential: the Cloud Billing Catalog API refuses anonymous "
                           "calls. Set CLOUDML_GCP_API_KEY to an API key of a project with the Cloud Billing API "
                           "enabled, or CLOUDML_GCP_ACCESS_TOKEN to an OAuth token (gcloud auth print-access-token)")


def _gcp_skus(base: str, service: str, query: dict[str, str], headers: dict[str, str]) -> list[dict]:
    skus: list[dict] = []
    token = ""
    while True:
        params = {"currencyCode": "USD", "pageSize": "5000", **query}
        if token:
            params["pageToken"] = token
        page = _get_json(f"{base}/{service}/skus?{urllib.parse.urlencode(params)}", headers)
        skus += page.get("skus", [])
        token = page.get("nextPageToken", "")
        if not token:
            return skus


def _components_for(shape: instances.Shape, itype: str) -> list[tuple[str, float]]:
    if shape.accelerator and shape.accelerator.startswith("TPU-"):
        return [(f"tpu-{shape.accelerator}", float(shape.count))]
    family = itype[:2]
    needed = [(f"{family}-core", float(shape.vcpus or 0)), (f"{family}-ram", float(shape.memory_gib or 0))]
    if shape.accelerator:
        needed.append((f"gpu-{shape.accelerator}", float(shape.count)))
    return needed


def _priced(parts: dict[tuple[str, str, str], tuple[float, str]], region: str, capacity: str,
            needed: list[tuple[str, float]]) -> tuple[float, str] | None:
    """(machine price, the SKU ids used) when every component has a SKU in ``parts``, else None."""
    found = [parts.get((region, capacity, c)) for c, _ in needed]
    if not all(found):
        return None
    hits = [f for f in found if f is not None]
    total = float(sum(p[0] * qty for p, (_c, qty) in zip(hits, needed, strict=True)))
    return total, ", ".join(f"{c} {p[1]}" for (c, _), p in zip(needed, hits, strict=True))


def fetch_vertex(regions: Sequence[str], observed: str) -> list[Offer]:
    query, headers = _gcp_auth()
    base = (os.environ.get("CLOUDML_GCP_BILLING_URL") or GCP_BILLING_URL).rstrip("/")
    vertex = gcp_components(_gcp_skus(base, GCP_VERTEX_SERVICE, query, headers), training_only=True)
    compute = gcp_components(_gcp_skus(base, GCP_COMPUTE_SERVICE, query, headers)
                             + _gcp_skus(base, GCP_TPU_SERVICE, query, headers))
    offers: list[Offer] = []
    for region in regions:
        for capacity in ("on_demand", "spot"):
            for itype, shape in _vertex_machines():
                needed = _components_for(shape, itype)
                own = _priced(vertex, region, capacity, needed)
                gce = _priced(compute, region, capacity, needed)
                if own is not None:
                    total, ids = own
                    offers.append(_offer("vertex", itype, region, shape, total, capacity,
                                         f"GCP Cloud Billing Catalog {GCP_VERTEX_SERVICE} (Vertex AI) skus {ids}",
                                         observed, False, vm=gce[0] if gce else None))
                elif gce is not None:
                    vm, ids = gce
                    offers.append(_offer("vertex", itype, region, shape, vm * VERTEX_PREMIUM, capacity,
                                         f"GCP Cloud Billing Catalog {GCP_COMPUTE_SERVICE} skus {ids}", observed, True,
                                         f"Compute Engine {vm:.6f} x VERTEX_PREMIUM {VERTEX_PREMIUM} (no Vertex AI "
                                         "training SKU for every component)", vm=vm))
    return offers


# ---------------------------------------------------------------- Azure Retail Prices

def fetch_azureml(regions: Sequence[str], observed: str) -> list[Offer]:
    base = os.environ.get("CLOUDML_AZURE_PRICES_URL") or AZURE_PRICES_URL
    known = {t: s for (p, t), s in instances.FIXED.items() if p == "azureml"}
    skus = " or ".join(f"armSkuName eq '{t}'" for t in sorted(known))
    offers: list[Offer] = []
    for region in regions:
        flt = (f"serviceName eq 'Virtual Machines' and armRegionName eq '{region}' and priceType eq 'Consumption' "
               f"and ({skus})")
        query = urllib.parse.urlencode({"api-version": AZURE_API_VERSION, "$filter": flt}, quote_via=urllib.parse.quote)
        url: str | None = f"{base}?{query}"
        found: dict[tuple[str, str, str], tuple[float, dict]] = {}     # (sku, region, kind) -> price, item
        while url:
            page = _get_json(url)
            for item in page.get("Items", []):
                sku = item.get("armSkuName", "")
                meter = item.get("meterName", "").lower()
                if (sku not in known or item.get("type") != "Consumption" or item.get("unitOfMeasure") != "1 Hour"
                        or "windows" in item.get("productName", "").lower()):
                    continue
                kind = "low_priority" if meter.endswith("low priority") else "spot" if meter.endswith("spot") \
                    else "on_demand"
                price = float(item.get("retailPrice") or 0)
                key = (sku, item.get("armRegionName", region), kind)
                if price > 0 and key not in found:
                    found[key] = (price, item)
            url = page.get("NextPageLink") or None
        for (sku, reg, kind), (price, item) in sorted(found.items()):
            if kind == "spot" and (sku, reg, "low_priority") in found:
                continue                       # Azure ML's low-priority tier bills the Low Priority meter
            capacity = "on_demand" if kind == "on_demand" else "spot"
            offers.append(_offer("azureml", sku, reg, known[sku], price, capacity,
                                 f"Azure Retail Prices API (api-version {AZURE_API_VERSION}) meter "
                                 f"{item.get('meterId', '?')}", observed, False, vm=price,
                                 notes=f"meter {item.get('meterName')!r}, effective "
                                       f"{str(item.get('effectiveStartDate', '?'))[:10]}"))
    return offers


FETCHERS: dict[str, Any] = {"sagemaker": fetch_sagemaker, "vertex": fetch_vertex, "azureml": fetch_azureml}


def refresh(providers: Sequence[str], regions: Sequence[str] | None = None, out: str | os.PathLike[str] | None = None,
            *, observed: str | None = None) -> tuple[int, Path]:
    """Fetch ``providers`` and write the cache (or ``out``); returns (rows written, path).

    Rows of providers not refreshed are kept from the existing cache file. Raises ``CredentialsError`` (before
    any call) when a provider's API needs a credential that is not there, ``RefreshError`` when an API cannot be
    read or returns nothing usable.
    """
    observed = observed or datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    target = Path(out) if out else cache_path()
    fetched: list[Offer] = []
    for provider in providers:
        try:
            rows = FETCHERS[provider](tuple(regions or DEFAULT_REGIONS[provider]), observed)
        except CloudMLError:
            raise
        except Exception as exc:   # network, HTTP, JSON, botocore: one message naming the provider
            raise RefreshError(f"refresh {provider}: {type(exc).__name__}: {exc}") from exc
        if not rows:
            raise RefreshError(f"refresh {provider}: the price API returned no prices for the known instance types "
                               f"in {', '.join(regions or DEFAULT_REGIONS[provider])}")
        fetched += rows
    kept = [r for r in (read_csv(target) if target.is_file() else []) if r.get("provider") not in providers]
    catalog = build([("cache", kept), ("refresh", [o.to_row() for o in fetched])])
    write_csv(catalog.rows, target)
    return len(catalog.rows), target
