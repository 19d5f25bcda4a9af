"""The metrics of a node's apps (one per group of lines) in one scrape: each app's series
as it said them (the webhooks' labelled by its group), the lease epochs that every app
reads from the node said once."""

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


def app(group: str, webhooks: int, seconds: list[float], epochs: dict[str, int]) -> bytes:
    """One group's app's scrape (its own registry, as `metrics.Metrics` has)."""
    r = CollectorRegistry()
    Counter("hotline_webhooks", "w", ["group", "route", "status"], registry=r).labels(
        group, "/voice/incoming", "200").inc(webhooks)  # fmt: skip
    latency = Histogram("hotline_webhook_duration_seconds", "l", ["group", "route"],
                        buckets=(0.1, 1), registry=r).labels(group, "/voice/incoming")  # fmt: skip
    for s in seconds:
        latency.observe(s)
    Gauge("hotline_callers_waiting", "c", ["line"], registry=r).labels(group).set(webhooks)
    lease = Gauge("hotline_lease_epoch", "e", ["line"], registry=r)
    for name, epoch in epochs.items():
        lease.labels(name).set(epoch)
    return generate_latest(r)


def test_each_groups_series_are_kept_and_the_nodes_leases_said_once():
    epochs = {"national": 3, "helpline": 7}
    got = said([app("national", 2, [0.05, 0.5], epochs), app("helpline", 5, [2.0], epochs)])
    for group, count, seconds, fast in (("national", 2, 2, 1), ("helpline", 5, 1, 0)):
        at = (("group", group), ("route", "/voice/incoming"))
        assert got[("hotline_webhooks_total", (*at, ("status", "200")))] == count
        assert got[("hotline_webhook_duration_seconds_count", at)] == seconds
        assert got[("hotline_webhook_duration_seconds_bucket", (at[0], ("le", "0.1"), at[1]))] \
            == fast  # fmt: skip
        assert got[("hotline_callers_waiting", (("line", group),))] == count
    assert got[("hotline_lease_epoch", (("line", "national"),))] == 3
    assert got[("hotline_lease_epoch", (("line", "helpline"),))] == 7
    assert len([k for k in got if k[0] == "hotline_webhooks_total"]) == 2


def test_one_app_is_said_as_it_said_it():
    one = app("national", 4, [0.5], {"national": 1})
    assert said([one]) == {(s.name, tuple(sorted(s.labels.items()))): s.value
                           for f in text_string_to_metric_families(one.decode())
                           for s in f.samples}  # fmt: skip
