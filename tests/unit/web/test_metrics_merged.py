"""The metrics of a node's apps (one per group of lines) merged into one scrape: counts
added, the earliest creation time, a gauge both say (the node's lease epochs) said once."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hotline.web.metrics import merged

Key = tuple[str, tuple[tuple[str, str], ...]]


def said(texts: list[bytes]) -> dict[Key, float]:
    out: dict[Key, float] = {}
    for family in text_string_to_metric_families(merged(texts).decode()):
        for s in family.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in out, f"{key} said twice"
            out[key] = s.value
    return out


def app(line: str, webhooks: int, seconds: list[float], epochs: dict[str, int]) -> bytes:
    """One group's app's scrape (its own registry, as `metrics.Metrics` has)."""
    r = CollectorRegistry()
    Counter("hotline_webhooks", "w", ["route", "status"], registry=r).labels(
        "/voice/incoming", "200").inc(webhooks)  # fmt: skip
    latency = Histogram("hotline_webhook_duration_seconds", "l", ["route"],
                        buckets=(0.1, 1), registry=r).labels("/voice/incoming")  # fmt: skip
    for s in seconds:
        latency.observe(s)
    Gauge("hotline_callers_waiting", "c", ["line"], registry=r).labels(line).set(webhooks)
    lease = Gauge("hotline_lease_epoch", "e", ["line"], registry=r)
    for name, epoch in epochs.items():
        lease.labels(name).set(epoch)
    return generate_latest(r)


def test_counts_add_gauges_of_each_line_are_kept_and_the_nodes_leases_said_once():
    epochs = {"national": 3, "helpline": 7}
    got = said([app("national", 2, [0.05, 0.5], epochs), app("helpline", 5, [2.0], epochs)])
    incoming = ("route", "/voice/incoming")
    assert got[("hotline_webhooks_total", (incoming, ("status", "200")))] == 7
    assert got[("hotline_webhook_duration_seconds_count", (incoming,))] == 3
    assert got[("hotline_webhook_duration_seconds_sum", (incoming,))] == 2.55
    assert got[("hotline_webhook_duration_seconds_bucket", (("le", "0.1"), incoming))] == 1
    assert got[("hotline_webhook_duration_seconds_bucket", (("le", "1.0"), incoming))] == 2
    assert got[("hotline_webhook_duration_seconds_bucket", (("le", "+Inf"), incoming))] == 3
    assert got[("hotline_callers_waiting", (("line", "national"),))] == 2
    assert got[("hotline_callers_waiting", (("line", "helpline"),))] == 5
    assert got[("hotline_lease_epoch", (("line", "national"),))] == 3
    assert got[("hotline_lease_epoch", (("line", "helpline"),))] == 7


def test_a_series_was_created_when_its_first_app_created_it():
    first = app("national", 1, [], {})
    later = app("helpline", 1, [], {})

    def created(texts: list[bytes]) -> list[float]:
        return [v for (name, _), v in said(texts).items() if name == "hotline_webhooks_created"]

    assert created([later, first]) == created([first])
