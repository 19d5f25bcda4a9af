"""Erlang B, C and A: the queueing formulas staffing is planned with.

* Erlang B  (M/M/n/n): probability that a call finds every line busy and is lost.
* Erlang C  (M/M/n):   callers wait as long as it takes.
* Erlang A  (M/M/n+M): callers hang up after an exponential patience (Palm's model).

All are computed without factorials or powers: Erlang B by its recursion, which stays in
[0, 1]; the Erlang A queue tail in logarithms. Both stay exact to thousands of agents.
For Erlang A the service level (answered within T) needs the distribution of the wait of
a caller who is eventually served; it comes from the tagged caller's position in queue as
a small absorbing Markov chain, solved by uniformisation.

`erlang_a_many` gives the same figures for many queues at once from closed forms in the
incomplete gamma function (one call per figure, whatever the queue's size), and the mean
wait of answered calls (`asa_many`) from its series summed in linear space, for the
staffing grid; `erlang_a` stays the reference they are tested against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import gammainc, gammaln, logsumexp, pdtr, xlogy
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
    if not patience_seconds > 0:  # (NaN too)
        raise ValueError("patience must be positive")
    if math.isinf(patience_seconds):  # (its queue would never end: Erlang C's, unstable)
        raise ValueError("patience must be finite: callers who never hang up are Erlang C's")
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


Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ManyPerformances:
    """`Performance` figures of many queues, as arrays of one shape (see `erlang_a_many`)."""

    p_wait: Floats
    service_level: Floats
    asa_seconds: Floats  # NaN everywhere unless asked for
    occupancy: Floats
    abandon_rate: Floats


def erlang_a_many(
    *,
    agents: npt.ArrayLike,
    calls_per_hour: npt.ArrayLike,
    aht_seconds: npt.ArrayLike,
    patience_seconds: npt.ArrayLike,
    answer_within: float,
    asa: bool = False,
) -> ManyPerformances:
    """`erlang_a` for many queues at once (arguments broadcast together), in closed form.

    Relative to the probability of n in the system, with x = n mu / theta, y = lam / theta
    and A(b, z) = sum_k z^k / ((b+1)...(b+k)) = Gamma(b+1) e^z z^-b P(b, z) (P the
    regularised lower incomplete gamma):

    * below n: L - 1, where L = 1 / ErlangB(n, load) = Poisson cdf / pmf at n;
    * in queue: A(x, y); a caller finding j ahead is served with probability
      x / (x+j+1), so those served from the queue weigh x/(x+1) A(x+1, y);
    * served within T, s = theta T: x/(x+1) [A(x+1, y) - r A(x+1, y e^-s)], with
      log r = y (1 - e^-s) - (x+1) s (the wait of a caller with j ahead has density
      C e^-xu (1 - e^-u)^j in units of 1/theta; summed over j it integrates to this).

    The mean wait of answered calls has no such form; with `asa` it is summed over the
    callers ahead (as `asa_many` does alone). NaN marks a queue where a term leaves
    floating point (e.g. Erlang B below 1e-308 with far fewer agents than the load): ask
    `erlang_a`. Agents must be at least 1, the call rate positive.
    """
    q = _Queues.of(agents, calls_per_hour, aht_seconds, patience_seconds)
    n, lam, theta, x, y, log_below = q.n, q.lam, q.theta, q.x, q.y, q.log_below
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        load = lam / q.mu
        s = theta * answer_within
        _, log_queue = _log_p_and_a(x, y)
        log_p1, log_served = _log_p_and_a(x + 1.0, y)
        log_total = np.logaddexp(log_below, log_queue)
        p_no_wait = np.exp(log_below - log_total)
        from_queue = x / (x + 1.0) * np.exp(log_served - log_total)
        if answer_within > 0:
            # served within T among those served from the queue: 1 - P(x+1, y e^-s) / P(x+1, y)
            log_p1_late, _ = _log_p_and_a(x + 1.0, y * np.exp(-s))
            within = from_queue * -np.expm1(log_p1_late - log_p1)
        else:
            within = np.zeros_like(from_queue)
        p_served = p_no_wait + from_queue
        asa_seconds = _asa(x, y, theta, log_below) if asa else np.full_like(p_served, np.nan)
        return ManyPerformances(
            p_wait=np.exp(log_queue - log_total).reshape(q.shape),
            service_level=(p_no_wait + within).reshape(q.shape),
            asa_seconds=asa_seconds.reshape(q.shape),
            occupancy=np.minimum(1.0, load * p_served / n).reshape(q.shape),
            abandon_rate=(1.0 - p_served).reshape(q.shape),
        )


def asa_many(
    *,
    agents: npt.ArrayLike,
    calls_per_hour: npt.ArrayLike,
    aht_seconds: npt.ArrayLike,
    patience_seconds: npt.ArrayLike,
) -> Floats:
    """The mean wait of answered calls alone, as `erlang_a_many(..., asa=True)` gives it:
    for the staffing grid, which needs it only where the other figures meet the target."""
    q = _Queues.of(agents, calls_per_hour, aht_seconds, patience_seconds)
    return _asa(q.x, q.y, q.theta, q.log_below).reshape(q.shape)


@dataclass(frozen=True, slots=True)
class _Queues:
    """Many queues' rates, flat, and what `erlang_a_many` and `asa_many` share."""

    shape: tuple[int, ...]
    n: Floats
    lam: Floats  # calls per second
    mu: Floats
    theta: Floats
    x: Floats  # n mu / theta
    y: Floats  # lam / theta
    log_below: Floats  # log of the states below n, relative to n

    @staticmethod
    def of(
        agents: npt.ArrayLike,
        calls_per_hour: npt.ArrayLike,
        aht_seconds: npt.ArrayLike,
        patience_seconds: npt.ArrayLike,
    ) -> _Queues:
        given = [np.asarray(v, dtype=np.float64)
                 for v in (agents, calls_per_hour, aht_seconds, patience_seconds)]  # fmt: skip
        shape = np.broadcast_shapes(*(v.shape for v in given))
        n, cph, aht, patience = (np.broadcast_to(v, shape).ravel() for v in given)
        if np.any(n < 1) or np.any(cph <= 0) or np.any(aht <= 0) or np.any(patience <= 0):
            raise ValueError("erlang_a_many needs agents >= 1 and positive rates and times")
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            lam = cph / 3600.0
            mu = 1.0 / aht
            theta = 1.0 / patience
            load = lam / mu
            # log(L - 1), the states below n relative to n, as `erlang_a` computes it (Erlang
            # B's inverse is the Poisson cdf over the pmf, and scipy's logpmf is this expression)
            log_low = np.log(pdtr(n, load)) - (xlogy(n, load) - gammaln(n + 1.0) - load)
            log_below = log_low + np.log(-np.expm1(-log_low))
            x, y = n * mu / theta, lam / theta
        return _Queues(shape, n, lam, mu, theta, x, y, log_below)


def _log_p_and_a(b: Floats, z: Floats) -> tuple[Floats, Floats]:
    """log P(b, z) and log A(b, z) = log P(b, z) - log d(b, z), where d(b, z) =
    e^-z z^b / Gamma(b+1) is written without its large cancelling terms (Loader's
    saddle-point form). Where P underflows (z far below b), A comes from its series,
    whose terms then fall fast, and P from A."""
    log_d = -_bd0(b, z) - 0.5 * np.log(2.0 * np.pi * b) - _stirling_error(b)
    p = gammainc(b, z)
    log_p: Floats = np.log(p)
    log_a: Floats = log_p - log_d
    tiny = np.flatnonzero(~(p > 1e-280))
    if tiny.size:
        bt, zt = b[tiny], z[tiny]
        term = np.ones_like(zt)
        total = np.ones_like(zt)
        for k in range(1, 100_001):
            term *= zt / (bt + k)
            total += term
            if not np.any(term > 1e-17 * total):
                break
        else:
            total[:] = np.nan  # (not seen: the terms fall at least as fast as (z / b)^k)
        log_a[tiny] = np.log(total)
        log_p[tiny] = log_a[tiny] + log_d[tiny]
    return log_p, log_a


def _bd0(b: Floats, z: Floats) -> Floats:
    """b log(b / z) + z - b, accurate when b and z are close (Loader 2000)."""
    out: Floats = b * np.log(b / z) + z - b
    close = np.flatnonzero(np.abs(b - z) < 0.1 * (b + z))
    if close.size:
        bc, zc = b[close], z[close]
        v = (bc - zc) / (bc + zc)
        total = (bc - zc) * v
        power = 2.0 * bc * v
        v2 = v * v
        for k in range(1, 12):  # v^2 < 1/120: twelve terms reach 1e-25
            power *= v2
            total += power / (2 * k + 1)
        out[close] = total
    return out


def _stirling_error(b: Floats) -> Floats:
    """log Gamma(b+1) - (b + 1/2) log b + b - log(2 pi) / 2, by its series above 15."""
    out: Floats = gammaln(b + 1.0) - (b + 0.5) * np.log(b) + b - 0.5 * np.log(2.0 * np.pi)
    big = np.flatnonzero(b > 15.0)
    if big.size:
        r = 1.0 / b[big]
        r2 = r * r
        out[big] = r * (1 / 12 - r2 * (1 / 360 - r2 * (1 / 1260 - r2 * (1 / 1680 - r2 / 1188))))
    return out


# The mean-wait sum stops where its weights fall below e^-ASA_DEPTH of the largest: what
# it drops is then below 1e-17 of the sum up to a million agents (see `_asa_terms`)
ASA_DEPTH = 60.0


def _asa(x: Floats, y: Floats, theta: Floats, log_below: Floats) -> Floats:
    """Mean wait of answered calls: a caller finding k ahead waits, if served, a sum of
    exponentials of rates theta (x + i), i = 1..k+1, weighted by their chance to outlast it:
    E[wait, served | k] = x/(x+k+1) sum_{i=1..k+1} 1/(theta (x+i)). Relative to the chance
    of n in the system, k ahead weighs w_k = prod_{i=1..k} y / (x+i).

    Summed in linear space, relative to the largest weight w_p (p = floor(y - x), or 0): a
    running product outward from p never overflows, and a weight that underflows is
    negligible, as are all beyond it. Queues of similar length are summed together, a
    block of about 32,000 terms at a time."""
    out = np.full_like(x, np.nan)  # (where a figure is out of floating point, as elsewhere)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        usable = np.flatnonzero((x > 0) & (y > 0) & np.isfinite(x + y) & ~np.isnan(log_below))
        peak, width = _asa_terms(x[usable], y[usable])
        order = np.argsort(width, kind="stable")
        cells, peak, sizes = usable[order], peak[order], width[order]
        start = 0
        while start < len(cells):
            # queues in ascending length: a block shares its longest one's (and fits a cache)
            cost = np.arange(1, len(cells) - start + 1) * sizes[start:]
            end = start + max(1, int(np.searchsorted(cost, 1 << 15, side="right")))
            block, m = cells[start:end], int(sizes[end - 1])
            bx, by, bp = x[block, None], y[block, None], peak[start:end, None]
            inv = 1.0 / (bx + np.arange(1.0, m + 1.0))  # 1 / (x+i), i = 1..m
            ratio = by * inv[:, :-1]  # w_i / w_{i-1}, i = 1..m-1
            w = np.ones((len(block), m))  # w_k / w_p, k = 0..m-1
            if np.any(bp > 0):
                rising = np.arange(1.0, m) <= bp  # w_i >= w_{i-1} up to the peak
                np.cumprod(np.where(rising, 1.0, ratio), axis=1, out=w[:, 1:])
                back = np.where(rising, 1.0 / ratio, 1.0)[:, ::-1]  # from p down to 0
                w[:, :-1] *= np.cumprod(back, axis=1)[:, ::-1]
                log_peak = np.log(np.where(rising, ratio, 1.0)).sum(axis=1)
            else:
                np.cumprod(ratio, axis=1, out=w[:, 1:])
                log_peak = np.zeros(len(block))
            served = w * inv  # times x: w_k P(served | k)
            wait = np.einsum("ij,ij->i", served, np.cumsum(inv, axis=1))
            answered = np.exp(log_below[block] - log_peak) + x[block] * served.sum(axis=1)
            out[block] = x[block] * wait / answered / theta[block]
            start = end
    return out


def _asa_terms(x: Floats, y: Floats) -> tuple[Floats, npt.NDArray[np.int64]]:
    """Where `_asa`'s weights peak (p) and how many terms it sums (p + K + 2).

    K is where sum_{i=1..K} log((x'+i)/y) >= ASA_DEPTH, x' = x + p: found from the integral
    G(K) = (x'+K) log((x'+K)/y) - x' log(x'/y) - K, which is no larger and convex, by
    Newton's method from above (from a bound on the weights' fall, geometric or Gaussian).
    Past K the weights fall by rho = y/(x'+K+1) < 1 a step and the waits grow by at most
    one step's worth (H_k / H_p <= k - p + 1), so what is dropped is below
    e^-ASA_DEPTH ((K+2) / (1-rho) + 1 / (1-rho)^2), 1/(1-rho) <= (x'+K+1)/K, of what is
    kept: under 1e-17 while x' < 1e9 (a million agents, patience up to 1,000 AHTs)."""
    with np.errstate(divide="ignore", over="ignore"):
        peak = np.maximum(0.0, np.floor(y - x))  # w_k rises while x + k <= y
        top = x + peak  # x' > y - 1
        geometric = ASA_DEPTH / np.log((top + 1.0) / y)  # every step falls by (x'+1)/y or more
        half = ASA_DEPTH + 0.5
        gaussian = half + np.sqrt(half * half + 2.0 * ASA_DEPTH * (top + 1.0))
        k = np.maximum(1.0, np.minimum(geometric, gaussian))
        base = top * np.log(top / y)
        for _ in range(4):  # (G' = log((x'+K)/y) > 0 for K >= 1: each step lands above the root)
            fall = np.log((top + k) / y)
            k = np.maximum(1.0, k - ((top + k) * fall - base - k - ASA_DEPTH) / fall)
    return peak, (peak + np.ceil(k) + 2.0).astype(np.int64)


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
