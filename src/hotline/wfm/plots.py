"""Charts of a plan: agents required and scheduled per interval, for each pool and in all.

Returns matplotlib figures (Agg, no display); the caller decides where to save them.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from hotline.wfm.plan import Plan
from hotline.wfm.surge import SurgeImpact

DAY_TICKS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def coverage_figure(plan: Plan) -> Figure:
    """One panel per pool plus the total: required vs scheduled agents over the week."""
    panels = len(plan.pools) + 1
    cols = 4
    rows = -(-panels // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.4 * rows), sharex=True)
    flat = np.atleast_1d(axes).ravel()
    per_day = 24 * 60 // plan.demand.interval_minutes
    n = len(plan.pools[0].required) if plan.pools else 0
    hours = np.arange(n) / per_day * 24
    on_phones = 1.0 - plan.shrinkage
    series = [(p.name, p.required, p.schedule.coverage * on_phones) for p in plan.pools]
    series.append(
        (
            "all pools",
            sum((p.required for p in plan.pools), np.zeros(n, dtype=np.int64)),
            sum((p.schedule.coverage * on_phones for p in plan.pools), np.zeros(n)),
        )
    )
    for ax, (name, required, scheduled) in zip(flat, series, strict=False):
        ax.step(hours, required, where="post", color="#c0392b", lw=1, label="required")
        ax.step(hours, scheduled, where="post", color="#2471a3", lw=1, label="scheduled")
        ax.set_title(name, fontsize=9)
        ax.set_xticks(np.arange(7) * 24 + 12, DAY_TICKS, fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(bottom=0)
        ax.set_xlim(0, 7 * 24)
    for ax in flat[len(series) :]:
        ax.set_visible(False)
    flat[0].legend(fontsize=7, loc="upper right")
    surge = f", volume x{plan.surge:g}" if plan.surge != 1 else ""
    fig.suptitle(
        f"Agents on the phones per {plan.demand.interval_minutes}-minute interval: required "
        f"for {plan.target.service_level:.0%} within {plan.target.answer_within:g} s{surge}",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def surge_figure(impacts: list[SurgeImpact]) -> Figure:
    """Extra agents needed per interval, all pools together, one line per surge case."""
    fig, ax = plt.subplots(figsize=(12, 4))
    for i in impacts:
        per_day = 24 * 60 // i.interval_minutes
        hours = np.arange(i.extra.shape[0]) / per_day * 24
        ax.step(hours, i.extra.sum(axis=1), where="post", lw=1, label=i.case.name)
    ax.set_xticks(np.arange(7) * 24 + 12, DAY_TICKS)
    ax.set_xlim(0, 7 * 24)
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("extra agents on the phones")
    ax.set_title("Agents needed beyond the base schedule, by surge case")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
