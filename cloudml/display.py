"""Notebook display (issue 17): ``_repr_html_`` for jobs, endpoints and cost plans, one record or a list.

``JobInfo``, ``EndpointInfo`` and ``Plan`` render as an HTML table in Jupyter; ``Rows(list_of_them)`` renders a
list as one table (``Rows(provider.list_jobs())``, ``Rows(plan(request))``). Standard library only; every value is
HTML-escaped and values under secret-looking keys are masked, as in the CLI.
"""

from __future__ import annotations

import dataclasses
import enum
import html
from collections.abc import Mapping
from typing import Any

from cloudml.runtime.secrets import mask_mapping

#: the columns shown per kind (the CLI's `jobs list` / `endpoints list` / `cost compare` columns)
COLUMNS = {
    "JobInfo": ("name", "state", "provider", "instance_type", "instance_count", "billable_seconds", "model_uri",
                "reason"),
    "EndpointInfo": ("name", "state", "provider", "url", "instance_type", "min_replicas", "max_replicas",
                     "model_uri"),
    "Plan": ("provider", "instance_type", "region", "accelerator", "capacity", "price_usd_hour", "hours",
             "total_usd"),
}


def _cells(item: Any) -> dict[str, Any]:
    if type(item).__name__ == "Plan":
        o = item.offer
        acc = f"{o.accelerator} x{o.accelerator_count}" if o.accelerator else None
        return {"provider": o.provider, "instance_type": o.instance_type, "region": o.region, "accelerator": acc,
                "capacity": o.capacity, "price_usd_hour": o.price_usd_hour, "hours": item.hours,
                "total_usd": item.total_usd}
    out = {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}
    if isinstance(out.get("hyperparameters"), Mapping):
        out["hyperparameters"] = mask_mapping(out["hyperparameters"])
    return out


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, float):
        value = f"{value:,.4g}"
    return html.escape(str(value))


def html_table(items: list[Any]) -> str:
    if not items:
        return "<p>(none)</p>"
    kind = type(items[0]).__name__
    columns = COLUMNS.get(kind) or tuple(_cells(items[0]))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_text(_cells(i).get(c))}</td>" for c in columns) + "</tr>"
                   for i in items)
    return f'<table class="cloudml"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def repr_html(self: Any) -> str:
    """``_repr_html_`` of one record: a one-row table."""
    return html_table([self])


class Rows(list):  # type: ignore[type-arg]
    """A list of jobs, endpoints or plans that Jupyter shows as one table."""

    def _repr_html_(self) -> str:
        return html_table(list(self))
