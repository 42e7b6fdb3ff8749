"""RateLimitSpec's figures are the manifest model's RateLimits figures, not a second list."""

from __future__ import annotations

import dataclasses

from connector.catalog.models import RateLimits
from connector.engine.rate_limits import WINDOW_FIELDS, RateLimitSpec, limits_from_mapping

#: what pacing adds to the manifest's figures (learned, user-set, per endpoint)
_PACING_ONLY = {"buckets", "endpoints", "throttle_defaults", "sources", "learn", "settings"}


def test_the_spec_holds_exactly_the_models_figures() -> None:
    spec_fields = {f.name: f for f in dataclasses.fields(RateLimitSpec)}
    model_fields = set(RateLimits.model_fields) - {"learn", "buckets"}
    assert set(spec_fields) - _PACING_ONLY == model_fields
    assert set(WINDOW_FIELDS) == {n for n in model_fields if n.startswith("per_")}
    assert spec_fields["windows"].default == RateLimits.model_fields["windows"].default


def test_every_figure_of_a_manifest_reaches_the_spec() -> None:
    given = {"concurrency": 3, "per_second": 4, "per_minute": 50, "per_hour": 600}
    model = RateLimits.model_validate({**given, "per_month": 7000, "windows": "fixed"})
    spec = RateLimitSpec.from_manifest(model)
    for name in (*given, "per_month", "windows"):
        assert getattr(spec, name) == getattr(model, name)
    assert dict(spec.sources) == {name: "manifest" for name in (*given, "per_month")}
    # and each of them is a figure a user may lower
    assert limits_from_mapping({n: 1 for n in (*given, "per_month")}, "test")
