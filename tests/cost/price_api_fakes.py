"""Local stand-ins for the price APIs, answering with their real response shapes on 127.0.0.1.

- AWS Price List ``GetProducts``: JSON 1.1 over POST, ``X-Amz-Target: AWSPriceListService.GetProducts``;
  ``TERM_MATCH`` filters applied to the product attributes as the service does; ``PriceList`` is a list of JSON
  *strings*; ``NextToken`` paginates. Products carry ``OnDemand`` and ``Reserved`` terms; EC2 lists, next to the
  plain on-demand product, a Capacity Block product and a capacity-reservation product of the same type.
- EC2 ``DescribeSpotPriceHistory``: the EC2 Query protocol (form-encoded POST, ``Action=...``), answered in EC2's
  XML (``spotPriceHistorySet/item``), one item per AZ and time.
- GCP Cloud Billing Catalog ``GET /v1/services/{id}/skus``: ``skus[]`` with ``category``, ``serviceRegions``,
  ``pricingInfo[].pricingExpression.tieredRates[].unitPrice{units,nanos}``; ``nextPageToken`` paginates; answers
  401 without ``key=`` or a bearer token, as the real API does. Services: Compute Engine (incl. TPU v5e/v6e chips),
  Vertex AI (training SKUs), Cloud TPU (v3 devices).
- Azure Retail Prices ``GET /api/retail/prices``: ``Items[]`` with ``armSkuName``, ``meterName``, ``retailPrice``,
  ``type``, ``productName``; ``NextPageLink`` is an absolute URL to the next page; Spot and Low Priority meters.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def aws_product(sku, attributes, usd, service="AmazonSageMaker", reserved_usd=None):
    term = f"{sku}.JRTCKXETXF"
    terms = {"OnDemand": {term: {
        "priceDimensions": {f"{term}.6YS6EN2CT7": {
            "unit": "Hrs", "endRange": "Inf", "beginRange": "0", "appliesTo": [], "rateCode": f"{term}.6YS6EN2CT7",
            "description": f"${usd} per hour", "pricePerUnit": {"USD": f"{usd:.10f}"}}},
        "sku": sku, "effectiveDate": "2026-11-01T00:00:00Z", "offerTermCode": "JRTCKXETXF", "termAttributes": {}}}}
    if reserved_usd is not None:
        rterm = f"{sku}.4NA7Y494T4"
        terms["Reserved"] = {rterm: {
            "priceDimensions": {f"{rterm}.6YS6EN2CT7": {
                "unit": "Hrs", "endRange": "Inf", "beginRange": "0", "appliesTo": [], "rateCode": f"{rterm}.6YS6EN2CT7",
                "description": "reserved, 1 year, no upfront", "pricePerUnit": {"USD": f"{reserved_usd:.10f}"}}},
            "sku": sku, "effectiveDate": "2026-11-01T00:00:00Z", "offerTermCode": "4NA7Y494T4",
            "termAttributes": {"LeaseContractLength": "1yr", "OfferingClass": "standard", "PurchaseOption": "No Upfront"}}}
    return json.dumps({
        "product": {"productFamily": "ML Instance" if service == "AmazonSageMaker" else "Compute Instance",
                    "attributes": dict(attributes, servicecode=service), "sku": sku},
        "serviceCode": service, "terms": terms,
        "version": "20261101000000", "publicationDate": "2026-11-01T00:00:00Z",
    })


def _ec2(sku, itype, usd, usagetype, **extra):
    attrs = {"regionCode": "us-east-1", "instanceType": itype, "operatingSystem": "Linux", "tenancy": "Shared",
             "preInstalledSw": "NA", "licenseModel": "No License required", "capacitystatus": "Used",
             "marketoption": "OnDemand", "usagetype": usagetype}
    attrs.update(extra)
    return aws_product(sku, attrs, usd, "AmazonEC2", reserved_usd=usd * 0.6)


SAGEMAKER_PRODUCTS = [
    aws_product("SKUP3TRAIN", {"regionCode": "us-east-1", "instanceName": "ml.p3.2xlarge", "component": "Training",
                               "usagetype": "USE1-Train:ml.p3.2xlarge", "vCpu": "8", "memory": "61 GiB"}, 3.5,
                reserved_usd=2.0),
    aws_product("SKUP3HOST", {"regionCode": "us-east-1", "instanceName": "ml.p3.2xlarge", "component": "Hosting",
                              "usagetype": "USE1-Host:ml.p3.2xlarge"}, 9.99),
    aws_product("SKUG5TRAIN", {"regionCode": "us-east-1", "instanceName": "ml.g5.xlarge", "component": "Training",
                               "usagetype": "USE1-Train:ml.g5.xlarge"}, 1.2),
    aws_product("SKUUNKNOWN", {"regionCode": "us-east-1", "instanceName": "ml.zz.big", "component": "Training",
                               "usagetype": "USE1-Train:ml.zz.big"}, 1.0),
]
EC2_PRODUCTS = [
    _ec2("SKUEC2P3", "p3.2xlarge", 3.06, "USE1-BoxUsage:p3.2xlarge"),
    _ec2("SKUEC2G5", "g5.xlarge", 1.006, "USE1-BoxUsage:g5.xlarge"),
    _ec2("SKUEC2P4DE", "p4de.24xlarge", 28.0, "USE1-BoxUsage:p4de.24xlarge"),
    _ec2("SKUEC2P4DECB", "p4de.24xlarge", 14.0, "USE1-CapacityBlock:p4de.24xlarge", marketoption="CapacityBlock"),
    _ec2("SKUEC2P4DERES", "p4de.24xlarge", 26.0, "USE1-Reservation:p4de.24xlarge",
         capacitystatus="AllocatedCapacityReservation"),
    _ec2("SKUEC2P4DEDED", "p4de.24xlarge", 22.0, "USE1-DedicatedUsage:p4de.24xlarge", tenancy="Dedicated"),
]
# (instance type, AZ, spot price, timestamp): two readings for one AZ, the later one counts
SPOT_HISTORY = [
    ("p3.2xlarge", "us-east-1a", "0.9180", "2026-11-30T10:00:00.000Z"),
    ("p3.2xlarge", "us-east-1a", "0.4590", "2026-11-30T11:00:00.000Z"),
    ("p3.2xlarge", "us-east-1b", "0.6120", "2026-11-30T11:00:00.000Z"),
    ("p4de.24xlarge", "us-east-1c", "9.7262", "2026-11-30T11:00:00.000Z"),
    ("g5.xlarge", "us-east-1a", "1.5000", "2026-11-30T11:00:00.000Z"),         # above on-demand: not a spot price
]


def money(usd):
    units = int(usd)
    return {"currencyCode": "USD", "units": str(units), "nanos": round((usd - units) * 1e9)}


def gcp_sku(sku_id, description, usage, regions, usd, group="CPU", unit="h", service="6F81-5844-456A",
            display="Compute Engine"):
    return {"name": f"services/{service}/skus/{sku_id}", "skuId": sku_id, "description": description,
            "category": {"serviceDisplayName": display, "resourceFamily": "Compute", "resourceGroup": group,
                         "usageType": usage},
            "serviceRegions": regions,
            "pricingInfo": [{"effectiveTime": "2026-11-01T00:00:00Z", "pricingExpression": {
                "usageUnit": unit, "usageUnitDescription": "hour", "displayQuantity": 1,
                "tieredRates": [{"startUsageAmount": 0, "unitPrice": money(usd)}]},
                "currencyConversionRate": 1}],
            "serviceProviderName": "Google", "geoTaxonomy": {"type": "REGIONAL", "regions": regions}}


GCE_PAGES = [
    [gcp_sku("N1CORE", "N1 Predefined Instance Core running in Americas", "OnDemand", ["us-central1"], 0.031611),
     gcp_sku("N1RAM", "N1 Predefined Instance Ram running in Americas", "OnDemand", ["us-central1"], 0.004237,
             group="RAM", unit="GiBy.h"),
     gcp_sku("N1COREC", "Commitment v1: N1 Predefined Instance Core in Americas for 1 Year", "Commit1Yr",
             ["us-central1"], 0.019915)],
    [gcp_sku("T4OD", "Nvidia Tesla T4 GPU running in Americas", "OnDemand", ["us-central1", "us-east1"], 0.35, "GPU"),
     gcp_sku("T4SPOT", "Nvidia Tesla T4 GPU attached to Spot Preemptible VMs running in Americas", "Preemptible",
             ["us-central1"], 0.14, "GPU"),
     gcp_sku("N1CORESPOT", "Spot Preemptible N1 Predefined Instance Core running in Americas", "Preemptible",
             ["us-central1"], 0.00698),
     gcp_sku("N1RAMSPOT", "Spot Preemptible N1 Predefined Instance Ram running in Americas", "Preemptible",
             ["us-central1"], 0.000936, group="RAM", unit="GiBy.h"),
     gcp_sku("A2CORE", "A2 Instance Core running in Americas", "OnDemand", ["us-central1"], 0.031611),
     gcp_sku("A2RAM", "A2 Instance Ram running in Americas", "OnDemand", ["us-central1"], 0.004237, group="RAM",
             unit="GiBy.h"),
     gcp_sku("A100OD", "Nvidia Tesla A100 GPU running in Americas", "OnDemand", ["us-central1"], 2.933908, "GPU"),
     gcp_sku("V5EOD", "TpuV5e chip running in Americas", "OnDemand", ["us-central1"], 1.2, "TPU"),
     gcp_sku("V5ESPOT", "Preemptible TpuV5e chip running in Americas", "OnDemand", ["us-central1"], 0.24, "TPU"),
     gcp_sku("V6EOD", "TpuV6e chip running in Americas", "OnDemand", ["us-central1"], 2.7, "TPU")],
]
VERTEX_PAGES = [
    [gcp_sku("VXN1CORE", "Custom Training: N1 Predefined Instance Core running in Americas", "OnDemand",
             ["us-central1"], 0.036489, service="C7E2-9256-1C43", display="Vertex AI"),
     gcp_sku("VXN1RAM", "Custom Training: N1 Predefined Instance Ram running in Americas", "OnDemand", ["us-central1"],
             0.004892, group="RAM", unit="GiBy.h", service="C7E2-9256-1C43", display="Vertex AI"),
     gcp_sku("VXT4", "Custom Training: Nvidia Tesla T4 GPU running in Americas", "OnDemand", ["us-central1"], 0.4025,
             "GPU", service="C7E2-9256-1C43", display="Vertex AI"),
     gcp_sku("VXN1PRED", "Online Prediction: N1 Predefined Instance Core running in Americas", "OnDemand",
             ["us-central1"], 0.9, service="C7E2-9256-1C43", display="Vertex AI")],
]
TPU_PAGES = [
    [gcp_sku("V3DEV", "Tpu-v3 running in Americas", "OnDemand", ["us-central1"], 8.0, "TPU", service="E000-3F24-B8AA",
             display="Cloud TPU"),
     gcp_sku("V3POD", "Tpu-v3 Pod running in Americas", "OnDemand", ["us-central1"], 32.0, "TPU",
             service="E000-3F24-B8AA", display="Cloud TPU")],
]
GCP_SERVICES = {"6F81-5844-456A": GCE_PAGES, "C7E2-9256-1C43": VERTEX_PAGES, "E000-3F24-B8AA": TPU_PAGES}


def azure_item(sku, meter, price, product="Virtual Machines NCasT4_v3 Series", kind="Consumption", region="eastus"):
    return {"currencyCode": "USD", "tierMinimumUnits": 0.0, "retailPrice": price, "unitPrice": price,
            "armRegionName": region, "location": "US East", "effectiveStartDate": "2026-10-01T00:00:00Z",
            "meterId": f"meter-{sku}-{meter}".replace(" ", "-"), "meterName": meter, "productId": "DZH318Z0BQ4L",
            "skuId": "DZH318Z0BQ4L/00D9", "productName": product, "skuName": meter, "serviceName": "Virtual Machines",
            "serviceId": "DZH313Z7MMC8", "serviceFamily": "Compute", "unitOfMeasure": "1 Hour", "type": kind,
            "isPrimaryMeterRegion": True, "armSkuName": sku}


AZURE_PAGES = [
    [azure_item("Standard_NC4as_T4_v3", "NC4as T4 v3", 0.5),
     azure_item("Standard_NC4as_T4_v3", "NC4as T4 v3 Spot", 0.06),
     azure_item("Standard_NC4as_T4_v3", "NC4as T4 v3 Low Priority", 0.1),
     azure_item("Standard_NC4as_T4_v3", "NC4as T4 v3", 5.0, product="Virtual Machines NCasT4_v3 Series Windows")],
    [azure_item("Standard_NC4as_T4_v3", "NC4as T4 v3", 0.3, kind="DevTestConsumption"),
     azure_item("Standard_ND96isr_H100_v5", "ND96isr H100 v5", 90.0, product="Virtual Machines NDsr H100 v5 Series"),
     azure_item("Standard_ND96isr_H100_v5", "ND96isr H100 v5 Spot", 30.0, product="Virtual Machines NDsr H100 v5 Series")],
]


def _matches(product_json: str, filters: dict[str, str]) -> bool:
    attrs = json.loads(product_json)["product"]["attributes"]
    return all(attrs.get(field) == value for field, value in filters.items())


def _spot_xml(types: list[str]) -> str:
    items = "".join(
        f"<item><instanceType>{t}</instanceType><productDescription>Linux/UNIX</productDescription>"
        f"<spotPrice>{p}</spotPrice><timestamp>{ts}</timestamp><availabilityZone>{az}</availabilityZone></item>"
        for t, az, p, ts in SPOT_HISTORY if t in types)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<DescribeSpotPriceHistoryResponse '
            'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>3d8a4b2c-0000-4000-8000-000000000001'
            f'</requestId><spotPriceHistorySet>{items}</spotPriceHistorySet><nextToken/>'
            '</DescribeSpotPriceHistoryResponse>')


class PriceAPIs:
    """One ThreadingHTTPServer on 127.0.0.1 serving all the APIs; records the requests it saw."""

    def __init__(self):
        self.requests: list[tuple[str, str, dict]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, body, content_type="application/json", status=200):
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0))) or b""
                target = self.headers.get("X-Amz-Target", "")
                if not target:                                   # EC2 Query protocol
                    form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                    fake.requests.append(("POST", form.get("Action", ""), form))
                    if form.get("Action") != "DescribeSpotPriceHistory":
                        self._send("<Response><Errors><Error><Code>InvalidAction</Code></Error></Errors></Response>",
                                   "text/xml", 400)
                        return
                    types = [v for k, v in form.items() if k.startswith("InstanceType.")]
                    self._send(_spot_xml(types), "text/xml;charset=UTF-8")
                    return
                payload = json.loads(raw or b"{}")
                fake.requests.append(("POST", target, payload))
                if target != "AWSPriceListService.GetProducts":
                    self._send({"__type": "UnknownOperationException"}, "application/x-amz-json-1.1", 400)
                    return
                filters = {f["Field"]: f["Value"] for f in payload.get("Filters", [])}
                pool = SAGEMAKER_PRODUCTS if payload["ServiceCode"] == "AmazonSageMaker" else EC2_PRODUCTS
                matching = [p for p in pool if _matches(p, filters)]
                start = int(payload.get("NextToken") or 0)
                body = {"FormatVersion": "aws_v1", "PriceList": matching[start:start + 2]}
                if start + 2 < len(matching):
                    body["NextToken"] = str(start + 2)
                self._send(body, "application/x-amz-json-1.1")

            def do_GET(self):
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.requests.append(("GET", url.path, dict(query, _auth=self.headers.get("Authorization", ""))))
                parts = url.path.split("/")
                if url.path.startswith("/v1/services/") and parts[-1] == "skus" and parts[3] in GCP_SERVICES:
                    if "key" not in query and not self.headers.get("Authorization", "").startswith("Bearer "):
                        self._send({"error": {"code": 403, "message": "The request is missing a valid API key.",
                                              "status": "PERMISSION_DENIED"}}, status=403)
                        return
                    pages = GCP_SERVICES[parts[3]]
                    page = int(query.get("pageToken") or 0)
                    body = {"skus": pages[page], "nextPageToken": str(page + 1) if page + 1 < len(pages) else ""}
                elif url.path == "/api/retail/prices":
                    page = int(query.get("$skip") or 0) // 100
                    nxt = (f"{fake.url}/api/retail/prices?api-version={query.get('api-version', '')}"
                           f"&$skip={(page + 1) * 100}") if page + 1 < len(AZURE_PAGES) else None
                    body = {"BillingCurrency": "USD", "CustomerEntityId": "Default", "CustomerEntityType": "Retail",
                            "Items": AZURE_PAGES[page], "NextPageLink": nxt, "Count": len(AZURE_PAGES[page])}
                else:
                    self._send({"error": "not found"}, status=404)
                    return
                self._send(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
