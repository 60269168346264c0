"""Groups of runs queued together (a lesson's variants, one Recipe under several seeds) and their spread.

A run's group lives in its registry summary as ``{"group": {"id", "kind", "label", ...}}``,
written before its worker starts, so any page or command can gather the members.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["group_of", "group_members", "spread", "HEADLINE_METRICS"]

#: Test metrics whose spread across seeds is shown, per task (higher-is-better ones first).
HEADLINE_METRICS = {
    "text-classification": ("accuracy", "macro_f1", "loss"),
    "sequence-classification": ("accuracy", "macro_f1", "loss"),
    "forecasting": ("mae", "rmse", "mape", "smape"),
}


def group_of(run) -> dict | None:
    """The group tag of a run (None when it was queued on its own)."""
    group = run.summary.get("group")
    return group if isinstance(group, dict) and group.get("id") else None


def group_members(registry, group_id: str, *, runs: Iterable | None = None) -> list:
    """The runs of group ``group_id``, oldest first (the order they were queued)."""
    runs = registry.list() if runs is None else runs
    members = [r for r in runs if (group_of(r) or {}).get("id") == group_id]
    return sorted(members, key=lambda r: (r.created, r.run_id))


def spread(runs: Iterable, metrics: Iterable[str] | None = None) -> dict[str, dict]:
    """Mean, sample standard deviation, min, max and values of each test metric over completed ``runs``.

    Only completed runs count; a metric missing from a run is left out for that run.
    The standard deviation is the sample one (n - 1), 0 for a single run.
    """
    done = [r for r in runs if r.status == "completed"]
    tests = [r.summary.get("metrics", {}).get("test", {}) for r in done]
    if metrics is None:
        task = done[0].task if done else ""
        metrics = [m for m in HEADLINE_METRICS.get(task, ()) if any(m in t for t in tests)] or \
            sorted({k for t in tests for k, v in t.items() if isinstance(v, (int, float))})
    out = {}
    for metric in metrics:
        values = [float(t[metric]) for t in tests
                  if isinstance(t.get(metric), (int, float)) and math.isfinite(float(t[metric]))]
        if not values:
            continue
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
        out[metric] = {"mean": mean, "std": std, "min": min(values), "max": max(values), "n": len(values),
                       "values": values}
    return out
