"""Issue 17 item 5: a pinned instance type the catalog cannot price, under max_total_usd, is refused with an
error that names the type it was given and the ways out (drop the budget, a priced type, a catalog row)."""

from __future__ import annotations

import pytest

from cloudml import Estimator, Resources
from cloudml.errors import NoFeasibleOfferError
from tests.cli.helpers import PROJECTS

OPTIONS = {"region": "us-east-1", "bucket": "my-bucket", "role_arn": "arn:aws:iam::123456789012:role/R"}


def test_unpriced_pinned_type_under_a_budget_says_what_to_do() -> None:
    est = Estimator("train.py", str(PROJECTS / "regression"), provider="sagemaker", provider_options=OPTIONS,
                    resources=Resources(instance_type="ml.m5.large", max_total_usd=5), max_run_seconds=3600)
    with pytest.raises(NoFeasibleOfferError) as info:
        est.prepare()
    text = str(info.value)
    assert "instance type ml.m5.large" in text            # before: "request for any machine"
    for way in ("drop max_total_usd", "cloudml instances list -p sagemaker", "CLOUDML_CATALOG"):
        assert way in text, text
    assert all("ml.m5.large requested" in "; ".join(p.violations) for p in info.value.closest)


def test_priced_pinned_type_under_a_budget_is_accepted() -> None:
    est = Estimator("train.py", str(PROJECTS / "regression"), provider="sagemaker", provider_options=OPTIONS,
                    resources=Resources(instance_type="ml.m5.xlarge", max_total_usd=5), max_run_seconds=3600)
    assert est.prepare().resources.instance_type == "ml.m5.xlarge"
