"""Local stand-ins for the three price APIs, answering with their real response shapes on 127.0.0.1.

- AWS Price List ``GetProducts``: JSON 1.1 over POST, ``X-Amz-Target: AWSPriceListService.GetProducts``;
  ``PriceList`` is a list of JSON *strings*; ``NextToken`` paginates.
- GCP Cloud Billing Catalog ``GET /v1/services/{id}/skus``: ``skus[]`` with ``category``, ``serviceRegions``,
  ``pricingInfo[].pricingExpression.tieredRates[].unitPrice{units,nanos}``; ``nextPageToken`` paginates.
- Azure Retail Prices ``GET /api/retail/prices``: ``Items[]`` with ``armSkuName``, ``meterName``, ``retailPrice``,
  ``type``, ``productName``; ``NextPageLink`` is an absolute URL to the next page.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def aws_product(sku, attributes, usd, service="AmazonSageMaker"):
    term = f"{sku}.JRTCKXETXF"
    return json.dumps({
        "product": {"productFamily": "ML Instance" if service == "AmazonSageMaker" else "Compute Instance",
                    "attributes": dict(attributes, servicecode=service), "sku": sku},
        "serviceCode": service,
        "terms": {"OnDemand": {term: {
            "priceDimensions": {f"{term}.6YS6EN2CT7": {
                "unit": "Hrs", "endRange": "Inf", "beginRange": "0", "appliesTo": [], "rateCode": f"{term}.6YS6EN2CT7",
                "description": f"${usd} per hour", "pricePerUnit": {"USD": f"{usd:.10f}"}}},
            "sku": sku, "effectiveDate": "2026-11-01T00:00:00Z", "offerTermCode": "JRTCKXETXF", "termAttributes": {}}}},
        "version": "20261101000000", "publicationDate": "2026-11-01T00:00:00Z",
    })


SAGEMAKER_PAGES = [
    [aws_product("SKUP3TRAIN", {"regionCode": "us-east-1", "instanceName": "ml.p3.2xlarge", "component": "Training",
                                "usagetype": "USE1-Train:ml.p3.2xlarge", "vCpu": "8", "memory": "61 GiB"}, 3.5),
     aws_product("SKUP3HOST", {"regionCode": "us-east-1", "instanceName": "ml.p3.2xlarge", "component": "Hosting",
                               "usagetype": "USE1-Host:ml.p3.2xlarge"}, 9.99)],
    [aws_product("SKUG5TRAIN", {"regionCode": "us-east-1", "instanceName": "ml.g5.xlarge", "component": "Training",
                                "usagetype": "USE1-Train:ml.g5.xlarge"}, 1.2),
     aws_product("SKUUNKNOWN", {"regionCode": "us-east-1", "instanceName": "ml.zz.big", "component": "Training",
                                "usagetype": "USE1-Train:ml.zz.big"}, 1.0)],
]
EC2 = {"p4de.24xlarge": aws_product("SKUEC2P4DE", {"regionCode": "us-east-1", "instanceType": "p4de.24xlarge",
                                                   "operatingSystem": "Linux", "tenancy": "Shared"}, 20.0, "AmazonEC2")}


def money(usd):
    units = int(usd)
    return {"currencyCode": "USD", "units": str(units), "nanos": round((usd - units) * 1e9)}


def gcp_sku(sku_id, description, usage, regions, usd, group="CPU", unit="h"):
    return {"name": f"services/6F81-5844-456A/skus/{sku_id}", "skuId": sku_id, "description": description,
            "category": {"serviceDisplayName": "Compute Engine", "resourceFamily": "Compute", "resourceGroup": group,
                         "usageType": usage},
            "serviceRegions": regions,
            "pricingInfo": [{"effectiveTime": "2026-11-01T00:00:00Z", "pricingExpression": {
                "usageUnit": unit, "usageUnitDescription": "hour", "displayQuantity": 1,
                "tieredRates": [{"startUsageAmount": 0, "unitPrice": money(usd)}]},
                "currencyConversionRate": 1}],
            "serviceProviderName": "Google", "geoTaxonomy": {"type": "REGIONAL", "regions": regions}}


GCP_PAGES = [
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
     gcp_sku("A100OD", "Nvidia Tesla A100 GPU running in Americas", "OnDemand", ["us-central1"], 2.933908, "GPU")],
]


def azure_item(sku, meter, price, product="Virtual Machines NCSv3 Series", kind="Consumption", region="eastus"):
    return {"currencyCode": "USD", "tierMinimumUnits": 0.0, "retailPrice": price, "unitPrice": price,
            "armRegionName": region, "location": "US East", "effectiveStartDate": "2026-10-01T00:00:00Z",
            "meterId": f"meter-{sku}-{meter}".replace(" ", "-"), "meterName": meter, "productId": "DZH318Z0BQ4L",
            "skuId": "DZH318Z0BQ4L/00D9", "productName": product, "skuName": meter, "serviceName": "Virtual Machines",
            "serviceId": "DZH313Z7MMC8", "serviceFamily": "Compute", "unitOfMeasure": "1 Hour", "type": kind,
            "isPrimaryMeterRegion": True, "armSkuName": sku}


AZURE_PAGES = [
    [azure_item("Standard_NC6s_v3", "NC6s v3", 2.0),
     azure_item("Standard_NC6s_v3", "NC6s v3 Spot", 0.3),
     azure_item("Standard_NC6s_v3", "NC6s v3 Low Priority", 0.6),
     azure_item("Standard_NC6s_v3", "NC6s v3", 5.0, product="Virtual Machines NCSv3 Series Windows")],
    [azure_item("Standard_NC6s_v3", "NC6s v3", 1.5, kind="DevTestConsumption"),
     azure_item("Standard_ND96isr_H100_v5", "ND96isr H100 v5", 90.0, product="Virtual Machines NDsr H100 v5 Series")],
]


class PriceAPIs:
    """One ThreadingHTTPServer on 127.0.0.1 serving all three APIs; records the requests it saw."""

    def __init__(self):
        self.requests: list[tuple[str, str, dict]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, body, content_type="application/json"):
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                target = self.headers.get("X-Amz-Target", "")
                fake.requests.append(("POST", target, payload))
                if target != "AWSPriceListService.GetProducts":
                    self.send_response(400)
                    self.end_headers()
                    return
                filters = {f["Field"]: f["Value"] for f in payload.get("Filters", [])}
                if payload["ServiceCode"] == "AmazonSageMaker":
                    page = int(payload.get("NextToken") or 0)
                    body = {"FormatVersion": "aws_v1", "PriceList": SAGEMAKER_PAGES[page]}
                    if page + 1 < len(SAGEMAKER_PAGES):
                        body["NextToken"] = str(page + 1)
                else:
                    item = EC2.get(filters.get("instanceType", ""))
                    body = {"FormatVersion": "aws_v1", "PriceList": [item] if item else []}
                self._send(body, "application/x-amz-json-1.1")

            def do_GET(self):
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.requests.append(("GET", url.path, query))
                if url.path == "/v1/services/6F81-5844-456A/skus":
                    page = int(query.get("pageToken") or 0)
                    body = {"skus": GCP_PAGES[page], "nextPageToken": str(page + 1) if page + 1 < len(GCP_PAGES) else ""}
                elif url.path == "/api/retail/prices":
                    page = int(query.get("$skip") or 0) // 100
                    nxt = f"{fake.url}/api/retail/prices?$skip={(page + 1) * 100}" if page + 1 < len(AZURE_PAGES) else None
                    body = {"BillingCurrency": "USD", "CustomerEntityId": "Default", "CustomerEntityType": "Retail",
                            "Items": AZURE_PAGES[page], "NextPageLink": nxt, "Count": len(AZURE_PAGES[page])}
                else:
                    self.send_response(404)
                    self.end_headers()
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
