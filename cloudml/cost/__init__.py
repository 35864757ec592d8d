"""cloudml's cost model: a validated price catalog, a workload model and a planner.

    from cloudml.cost import PlanRequest, Workload, plan, pareto_front
    plans = plan(PlanRequest(accelerator="A100:8", objective="cheapest-to-finish",
                             workload=Workload(params=7e9, tokens=1e11, workload_class="transformer")))

``A100:8`` means exactly eight per instance (``A100:8+`` at least eight); hours come from effective throughput
fitted to MLPerf Training results (``cloudml.cost.throughput``), offers that cannot hold the model are ruled out.

Invariant: importing this package (and running ``cloudml cost``/``instances``/``catalog show|validate``)
imports no cloud SDK, torch or TensorFlow; only ``cloudml.cost.refresh`` touches boto3, inside one function.
"""

from cloudml.cost.catalog import Catalog, Offer, load_catalog, price_of
from cloudml.cost.planner import OBJECTIVES, Plan, PlanRequest, pareto_front, plan, plan_for
from cloudml.cost.workload import DEFAULT_EFFICIENCY, WORKLOAD_CLASSES, Workload

__all__ = [
    "DEFAULT_EFFICIENCY",
    "WORKLOAD_CLASSES",
    "OBJECTIVES",
    "Catalog",
    "Offer",
    "Plan",
    "PlanRequest",
    "Workload",
    "load_catalog",
    "pareto_front",
    "plan",
    "plan_for",
    "price_of",
]
