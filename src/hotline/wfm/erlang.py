"""Erlang B, C and A: the queueing formulas staffing is planned with.

* Erlang B  (M/M/n/n): probability that a call finds every line busy and is lost.
* Erlang C  (M/M/n):   callers wait as long as it takes.
* Erlang A  (M/M/n+M): callers hang up after an exponential patience (Palm's model).

All are computed without factorials or powers: Erlang B by its recursion, which stays in
[0, 1]; the Erlang A queue tail in logarithms. Both stay exact to thousands of agents.
For Erlang A the service level (answered within T) needs the distribution of the wait of
a caller who is eventually served; it comes from the tagged caller's position in queue as
a small absorbing Markov chain, solved by uniformisation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp
from scipy.stats import poisson


@dataclass(frozen=True, slots=True)
class Performance:
    """What a queue with `agents` agents delivers at a given load."""

    agents: int
    load_erlangs: float
    p_wait: float  # probability that a caller waits at all
    service_level: float  # answered within the threshold, among all callers
    asa_seconds: float  # mean wait of answered calls
    occupancy: float
    abandon_rate: float  # 0 for Erlang C


def erlang_b(agents: int, load: float) -> float:
    """Blocking probability of an M/M/n/n system offered `load` Erlangs."""
    if agents < 0 or load < 0:
        raise ValueError("agents and load must be non-negative")
    b = 1.0
    for k in range(1, agents + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c(
    *, agents: int, calls_per_hour: float, aht_seconds: float, answer_within: float
) -> Performance:
    """M/M/n with infinitely patient callers. Unstable loads (>= agents) never meet a target."""
    _check(agents, calls_per_hour, aht_seconds, answer_within)
    load = calls_per_hour * aht_seconds / 3600.0
    if load >= agents:
        return Performance(agents, load, 1.0, 0.0, math.inf, 1.0, 0.0)
    b = erlang_b(agents, load)
    c = agents * b / (agents - load * (1.0 - b))
    drain = (agents - load) / aht_seconds  # n*mu - lambda, per second
    return Performance(
        agents=agents,
        load_erlangs=load,
        p_wait=c,
        service_level=1.0 - c * math.exp(-drain * answer_within),
        asa_seconds=c / drain,
        occupancy=load / agents,
        abandon_rate=0.0,
    )


def erlang_a(
    *,
    agents: int,
    calls_per_hour: float,
    aht_seconds: float,
    patience_seconds: float,
    answer_within: float,
) -> Performance:
    """M/M/n+M: exponential patience with mean `patience_seconds`. Stable at any load."""
    _check(agents, calls_per_hour, aht_seconds, answer_within)
    if patience_seconds <= 0:
        raise ValueError("patience must be positive")
    lam = calls_per_hour / 3600.0
    mu = 1.0 / aht_seconds
    theta = 1.0 / patience_seconds
    n = agents
    load = lam / mu
    if n == 0:
        return Performance(0, load, 1.0, 0.0, math.inf, 1.0, 1.0)
    if lam == 0:
        return Performance(n, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)
    log_t = _queue_tail(lam, n * mu, theta)  # log(pi_{n+j} / pi_n), j = 0, 1, ...
    j_max = len(log_t) - 1
    # sum_{k<=n} pi_k / pi_n = 1 / B(n, a), in logs: B underflows with many idle agents
    log_low = float(poisson.logcdf(n, load) - poisson.logpmf(n, load))
    log_total = float(np.logaddexp(log_low, logsumexp(log_t[1:]))) if j_max else log_low
    p_queue = np.exp(log_t - log_total)  # P(an arrival finds n + j in the system)
    # P(k < n) = (1/B - 1) / total, from the same logs (1 - B = -expm1(log B))
    p_no_wait = math.exp(log_low - log_total) * -math.expm1(-log_low)
    # The tagged caller with j ahead: advances at rate n mu + j theta, leaves at theta.
    ahead = np.arange(j_max + 1, dtype=np.float64)
    advance = n * mu + ahead * theta
    exit_rate = advance + theta
    p_adv = advance / exit_rate
    served = np.cumprod(p_adv)  # P(served | j ahead)
    # E[wait * 1{served} | j ahead]: b_j = served_j / r_j + p_j * b_{j-1}
    wait_served = np.empty_like(served)
    prev = 0.0
    for i in range(j_max + 1):
        prev = served[i] / exit_rate[i] + p_adv[i] * prev
        wait_served[i] = prev
    p_served = p_no_wait + float(p_queue @ served)
    abandon = 1.0 - p_served
    within = _served_within(answer_within, advance, exit_rate, p_queue)
    return Performance(
        agents=n,
        load_erlangs=load,
        p_wait=float(p_queue.sum()),
        service_level=p_no_wait + within,
        asa_seconds=float(p_queue @ wait_served) / p_served,
        occupancy=min(1.0, load * p_served / n),
        abandon_rate=abandon,
    )


def _queue_tail(lam: float, service_rate: float, theta: float) -> np.ndarray:
    """log prod_{i=1..j} lam / (n mu + i theta) for j = 0.. until the terms are negligible.

    The terms grow while n mu + j theta < lam and then fall; we stop 40 orders of
    magnitude below the largest.
    """
    chunk = 1024
    logs = [np.zeros(1)]
    start = 1
    while True:
        j = np.arange(start, start + chunk, dtype=np.float64)
        step = np.log(lam / (service_rate + j * theta))
        logs.append(logs[-1][-1] + np.cumsum(step))
        peak = max(float(part.max()) for part in logs)
        if step[-1] < 0 and logs[-1][-1] < peak - 92.0:
            break
        start += chunk
    out = np.concatenate(logs)
    return out[: int(np.flatnonzero(out >= out.max() - 92.0)[-1]) + 1]


def _served_within(
    t: float, advance: np.ndarray, exit_rate: np.ndarray, weight: np.ndarray
) -> float:
    """sum_j weight_j * P(served within t | j ahead), by uniformisation of the chain."""
    keep = np.flatnonzero(np.cumsum(weight[::-1])[::-1] > 1e-15 * weight.sum())
    last = int(keep[-1]) + 1 if len(keep) else 1
    advance, exit_rate, weight = advance[:last], exit_rate[:last], weight[:last]
    rate = float(exit_rate.max())
    mean = rate * t
    steps = int(mean + 10.0 * math.sqrt(mean) + 20)
    p_step = poisson.pmf(np.arange(steps + 1), mean)
    move = advance / rate
    stay = 1.0 - exit_rate / rate
    h = np.zeros(last)  # P(served within m jumps | j ahead)
    total = 0.0
    for m in range(1, steps + 1):
        shifted = np.concatenate(([1.0], h[:-1]))
        h = move * shifted + stay * h
        total += float(p_step[m]) * float(weight @ h)
    return total


MAX_AGENTS = 1_000_000  # far beyond any contact centre; keeps every computation bounded


def _check(agents: int, calls_per_hour: float, aht_seconds: float, answer_within: float) -> None:
    if agents < 0:
        raise ValueError("the number of agents cannot be negative")
    if agents > MAX_AGENTS:
        raise ValueError(f"at most {MAX_AGENTS:,} agents")
    if calls_per_hour < 0:
        raise ValueError("the call rate cannot be negative")
    if aht_seconds <= 0:
        raise ValueError("the handle time must be positive")
    if answer_within < 0:
        raise ValueError("the answer-within threshold cannot be negative")
