"""``cloudml catalog refresh``: pull current list prices from the providers' price APIs into the user cache.

- SageMaker: AWS Price List ``GetProducts`` (boto3 ``pricing`` client, us-east-1 endpoint) for service
  ``AmazonSageMaker`` training instances (``derived=False``); known ml.* types missing there are priced from
  ``AmazonEC2`` (Linux, shared tenancy, no pre-installed software) x ``SAGEMAKER_PREMIUM`` (``derived=True``).
  The Price List has no spot prices, so no spot rows come from AWS.
- Vertex AI: GCP Cloud Billing Catalog ``services/6F81-5844-456A/skus`` (Compute Engine): machine price =
  vCPUs x core SKU + GiB x RAM SKU + GPUs x GPU SKU, for N1/A2/A3/G2 machines in the known instance table,
  on-demand and spot (``Preemptible`` usage type), x ``VERTEX_PREMIUM`` (``derived=True``). TPU SKUs (another
  service) are not parsed: TPU rows stay as in the bundled snapshot.
- Azure ML: Azure Retail Prices API, ``Virtual Machines`` consumption meters for the known VM SKUs (Linux;
  ``... Spot`` meters are spot; ``Low Priority`` meters skipped); Azure ML bills the VM price (``derived=False``).

Invariants: nothing but boto3 (inside ``fetch_sagemaker``) and ``urllib.request`` talk to the network; base URLs
are overridable (``CLOUDML_AWS_PRICING_ENDPOINT``, ``CLOUDML_GCP_BILLING_URL``, ``CLOUDML_AZURE_PRICES_URL``)
so tests point them at local fakes; fetched rows are validated like any other layer before they are written;
refreshing one provider keeps the cached rows of the others; every row's ``as_of`` is the fetch date.
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
from cloudml.errors import CloudMLError, MissingDependencyError

GCP_BILLING_URL = "https://cloudbilling.googleapis.com/v1"
GCP_COMPUTE_SERVICE = "services/6F81-5844-456A"
AZURE_PRICES_URL = "https://prices.azure.com/api/retail/prices"
DEFAULT_REGIONS = {"sagemaker": ("us-east-1",), "vertex": ("us-central1",), "azureml": ("eastus",)}
TIMEOUT_S = 60


class RefreshError(CloudMLError, RuntimeError):
    """A price API could not be read or answered with something we cannot parse."""


def _offer(provider: str, itype: str, region: str, shape: instances.Shape, price: float, capacity: str,
           source: str, as_of: str, derived: bool, notes: str) -> Offer:
    return Offer(provider=provider, instance_type=itype, region=region, accelerator=shape.accelerator,
                 accelerator_count=shape.count, accelerator_memory_gib=instances.accelerator_memory(shape.accelerator),
                 vcpus=shape.vcpus, memory_gib=shape.memory_gib, price_usd_hour=round(price, 6), capacity=capacity,
                 source=source, observed_at=as_of, derived=derived, notes=notes)


# ---------------------------------------------------------------- AWS Price List (boto3)

def _aws_products(client, service: str, filters: dict[str, str]) -> Iterable[dict]:
    request = {"ServiceCode": service, "FormatVersion": "aws_v1",
               "Filters": [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in filters.items()]}
    for page in client.get_paginator("get_products").paginate(**request):
        for item in page.get("PriceList", []):
            yield json.loads(item) if isinstance(item, str) else item


def _aws_hourly_usd(product: dict) -> float | None:
    for term in product.get("terms", {}).get("OnDemand", {}).values():
        for dim in term.get("priceDimensions", {}).values():
            usd = dim.get("pricePerUnit", {}).get("USD")
            if usd is not None and dim.get("unit", "Hrs").lower().startswith("hr") and float(usd) > 0:
                return float(usd)
    return None


def fetch_sagemaker(regions: Sequence[str], as_of: str, endpoint_url: str | None = None) -> list[Offer]:
    try:
        import boto3
    except ImportError:
        raise MissingDependencyError("sagemaker", "boto3") from None
    endpoint_url = endpoint_url or os.environ.get("CLOUDML_AWS_PRICING_ENDPOINT") or None
    client = boto3.client("pricing", region_name="us-east-1", endpoint_url=endpoint_url)
    known = {t: s for (p, t), s in instances.FIXED.items() if p == "sagemaker"}
    offers: list[Offer] = []
    for region in regions:
        found: set[str] = set()
        for product in _aws_products(client, "AmazonSageMaker", {"regionCode": region}):
            attrs = product.get("product", {}).get("attributes", {})
            itype = attrs.get("instanceName") or attrs.get("instanceType")
            kind = " ".join(attrs.get(k, "") for k in ("component", "platoinstancetype", "usagetype")).lower()
            if itype not in known or itype in found or "train" not in kind or "spot" in kind:
                continue
            price = _aws_hourly_usd(product)
            if price is None:
                continue
            found.add(itype)
            sku = product.get("product", {}).get("sku", "?")
            offers.append(_offer("sagemaker", itype, region, known[itype], price, "on_demand",
                                 f"AWS Price List GetProducts AmazonSageMaker sku {sku}", as_of, False,
                                 "SageMaker training list price"))
        for itype in sorted(set(known) - found):
            ec2_type = itype.removeprefix("ml.")
            filters = {"regionCode": region, "instanceType": ec2_type, "operatingSystem": "Linux",
                       "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used"}
            for product in _aws_products(client, "AmazonEC2", filters):
                price = _aws_hourly_usd(product)
                if price is None:
                    continue
                sku = product.get("product", {}).get("sku", "?")
                offers.append(_offer("sagemaker", itype, region, known[itype], price * SAGEMAKER_PREMIUM,
                                     "on_demand", f"derived from AWS Price List GetProducts AmazonEC2 sku {sku}",
                                     as_of, True, f"EC2 {ec2_type} {price} x SAGEMAKER_PREMIUM {SAGEMAKER_PREMIUM}"))
                break
    return offers


# ---------------------------------------------------------------- HTTP helper (GCP, Azure)

def _get_json(url: str) -> dict:
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "cloudml-refresh"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        return json.loads(response.read().decode("utf-8"))


# ---------------------------------------------------------------- GCP Cloud Billing Catalog

_GPU = re.compile(r"\bNvidia (?:Tesla )?(T4|V100|A100 80GB|A100|L4|H100 80GB|H100)\b", re.IGNORECASE)
_HOST = re.compile(r"^(?:Spot Preemptible |Preemptible )?(N1|A2|A3|G2) (?:Predefined )?Instance (Core|Ram)\b",
                   re.IGNORECASE)
_SKIP = re.compile(r"commit|reserv|dws|sole tenancy|custom|extended|premium|calendar|flex", re.IGNORECASE)
_GPU_NAMES = {"T4": "T4", "V100": "V100", "A100": "A100", "A100 80GB": "A100-80GB", "L4": "L4",
              "H100": "H100", "H100 80GB": "H100"}


def _gcp_unit_price(sku: dict) -> float | None:
    for info in sku.get("pricingInfo", [])[:1]:
        rates = info.get("pricingExpression", {}).get("tieredRates", [])
        for rate in reversed(rates):            # the last tier is the list rate past any free tier
            money = rate.get("unitPrice", {})
            value = int(money.get("units") or 0) + int(money.get("nanos") or 0) / 1e9
            if value > 0:
                return value
    return None


def gcp_components(skus: Iterable[dict]) -> dict[tuple[str, str, str], tuple[float, str]]:
    """{(region, capacity, component): (USD per unit-hour, sku id)}; component is 'n1-core', 'a2-ram', 'gpu-T4' ..."""
    out: dict[tuple[str, str, str], tuple[float, str]] = {}
    for sku in skus:
        category = sku.get("category", {})
        desc = sku.get("description", "")
        usage = category.get("usageType", "")
        if category.get("resourceFamily") != "Compute" or usage not in ("OnDemand", "Preemptible") or _SKIP.search(desc):
            continue
        capacity = "spot" if usage == "Preemptible" or "preemptible" in desc.lower() else "on_demand"
        host = _HOST.search(desc)
        gpu = _GPU.search(desc)
        if host:
            component = f"{host.group(1).lower()}-{host.group(2).lower()}"
        elif gpu and "gpu" in desc.lower():
            component = "gpu-" + _GPU_NAMES[gpu.group(1).upper()]
        else:
            continue
        price = _gcp_unit_price(sku)
        if price is None:
            continue
        for region in sku.get("serviceRegions", []):
            out.setdefault((region, capacity, component), (price, sku.get("skuId", "?")))
    return out


def _vertex_machines() -> list[tuple[str, instances.Shape]]:
    machines = [(t, s) for (p, t), s in instances.FIXED.items() if p == "vertex" and t[:2] in ("n1", "a2", "a3", "g2")]
    for (p, t), (host, allowed) in instances.ATTACHABLE.items():
        if p == "vertex" and t.startswith("n1"):
            machines.append((t, host))
            for acc, counts in allowed.items():
                machines += [(t, instances.Shape(acc, c, host.vcpus, host.memory_gib)) for c in counts]
    return machines


def fetch_vertex(regions: Sequence[str], as_of: str, base_url: str | None = None,
                 api_key: str | None = None) -> list[Offer]:
    base = (base_url or os.environ.get("CLOUDML_GCP_BILLING_URL") or GCP_BILLING_URL).rstrip("/")
    api_key = api_key or os.environ.get("CLOUDML_GCP_API_KEY")
    skus: list[dict] = []
    token = ""
    while True:
        query = {"currencyCode": "USD", "pageSize": "5000"}
        if api_key:
            query["key"] = api_key
        if token:
            query["pageToken"] = token
        page = _get_json(f"{base}/{GCP_COMPUTE_SERVICE}/skus?{urllib.parse.urlencode(query)}")
        skus += page.get("skus", [])
        token = page.get("nextPageToken", "")
        if not token:
            break
    parts = gcp_components(skus)
    offers: list[Offer] = []
    for region in regions:
        for capacity in ("on_demand", "spot"):
            for itype, shape in _vertex_machines():
                family = itype[:2]
                needed = [(f"{family}-core", shape.vcpus or 0), (f"{family}-ram", shape.memory_gib or 0)]
                if shape.accelerator:
                    needed.append((f"gpu-{shape.accelerator}", shape.count))
                found = [(parts.get((region, capacity, c)), qty) for c, qty in needed]
                if any(p is None for p, _ in found):
                    continue
                gce = float(sum(p[0] * qty for p, qty in found))  # type: ignore[index, misc]
                ids = ", ".join(f"{c} {p[1]}" for (c, _), (p, _) in zip(needed, found, strict=True))  # type: ignore[index]
                offers.append(_offer("vertex", itype, region, shape, gce * VERTEX_PREMIUM, capacity,
                                     f"derived from GCP Cloud Billing Catalog {GCP_COMPUTE_SERVICE} skus ({ids})",
                                     as_of, True, f"Compute Engine {gce:.6f} x VERTEX_PREMIUM {VERTEX_PREMIUM}"))
    return offers


# ---------------------------------------------------------------- Azure Retail Prices

def fetch_azureml(regions: Sequence[str], as_of: str, base_url: str | None = None) -> list[Offer]:
    base = base_url or os.environ.get("CLOUDML_AZURE_PRICES_URL") or AZURE_PRICES_URL
    known = {t: s for (p, t), s in instances.FIXED.items() if p == "azureml"}
    skus = " or ".join(f"armSkuName eq '{t}'" for t in sorted(known))
    offers: list[Offer] = []
    seen: set[tuple[str, str, str]] = set()
    for region in regions:
        flt = f"serviceName eq 'Virtual Machines' and armRegionName eq '{region}' and priceType eq 'Consumption' and ({skus})"
        url: str | None = f"{base}?{urllib.parse.urlencode({'$filter': flt}, quote_via=urllib.parse.quote)}"
        while url:
            page = _get_json(url)
            for item in page.get("Items", []):
                sku = item.get("armSkuName", "")
                meter = item.get("meterName", "")
                if (sku not in known or item.get("type") != "Consumption" or "windows" in item.get("productName", "").lower()
                        or "low priority" in meter.lower() or item.get("unitOfMeasure") != "1 Hour"):
                    continue
                capacity = "spot" if meter.lower().endswith("spot") else "on_demand"
                key = (sku, item.get("armRegionName", region), capacity)
                price = float(item.get("retailPrice") or 0)
                if key in seen or price <= 0:
                    continue
                seen.add(key)
                offers.append(_offer("azureml", sku, key[1], known[sku], price, capacity,
                                     f"Azure Retail Prices API meter {item.get('meterId', '?')}", as_of, False,
                                     f"Azure ML bills the VM price; meter {meter!r}, effective "
                                     f"{item.get('effectiveStartDate', '?')[:10]}"))
            url = page.get("NextPageLink") or None
    return offers


FETCHERS: dict[str, Any] = {"sagemaker": fetch_sagemaker, "vertex": fetch_vertex, "azureml": fetch_azureml}


def refresh(providers: Sequence[str], regions: Sequence[str] | None = None, out: str | os.PathLike[str] | None = None,
            *, as_of: str | None = None) -> tuple[int, Path]:
    """Fetch ``providers`` and write the cache (or ``out``); returns (rows written, path).

    Rows of providers not refreshed are kept from the existing cache file. Raises ``RefreshError`` when an
    API cannot be read or returns nothing usable.
    """
    as_of = as_of or datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    target = Path(out) if out else cache_path()
    fetched: list[Offer] = []
    for provider in providers:
        try:
            rows = FETCHERS[provider](tuple(regions or DEFAULT_REGIONS[provider]), as_of)
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
