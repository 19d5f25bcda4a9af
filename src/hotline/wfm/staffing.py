"""The fewest agents that meet a service target, by Erlang C or Erlang A.

Erlang C is searched upward from a lower bound (the load, and load / occupancy limit),
starting Erlang B from the truncated-Poisson identity and carrying its recursion from one
head-count to the next: a handful of steps per queue, however large.
Erlang A (with patience) is searched by doubling and bisection: its service level rises
with every agent added, and each evaluation is a small Markov-chain computation.
`erlang_a_table` makes the same search for a whole grid at once, every cell probing the
head-counts the scalar search would, with the closed-form figures of `erlang_a_many`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import poisson

from hotline.wfm.erlang import MAX_AGENTS, Performance, asa_many, erlang_a, erlang_a_many


class Unreachable(ValueError):
    """No finite number of agents meets the target."""


@dataclass(frozen=True, slots=True)
class Target:
    """What 'enough agents' means: every set part must hold."""

    service_level: float = 0.8  # fraction answered within `answer_within`
    answer_within: float = 20.0
    asa_seconds: float | None = None  # mean wait of answered calls at most this
    max_occupancy: float | None = None  # at most this busy (burn-out, breaks)

    def check(self) -> None:
        if not 0.0 < self.service_level < 1.0:
            raise ValueError(
                f"service level target {self.service_level:g} must lie strictly between 0 "
                "and 1: no finite staff answers every call within a time limit"
            )
        if self.answer_within < 0:
            raise ValueError("the answer-within threshold cannot be negative")
        if self.asa_seconds is not None and self.asa_seconds <= 0:
            raise ValueError("an ASA target must be positive")
        if self.max_occupancy is not None and not 0.0 < self.max_occupancy <= 1.0:
            raise ValueError("the occupancy limit must be in (0, 1]")

    def met_by(self, p: Performance) -> bool:
        return (
            p.service_level >= self.service_level
            and (self.asa_seconds is None or p.asa_seconds <= self.asa_seconds)
            and (self.max_occupancy is None or p.occupancy <= self.max_occupancy)
        )


def agents_needed(
    *,
    calls_per_hour: float,
    aht_seconds: float,
    target: Target,
    patience_seconds: float | None = None,
) -> Performance:
    """The smallest head-count meeting `target`, with what it delivers.

    Zero calls need zero agents. Raises `Unreachable` when no head-count up to a million
    would do, and ValueError for impossible targets or inputs.
    """
    target.check()
    if calls_per_hour < 0 or aht_seconds <= 0:
        raise ValueError("calls per hour must be >= 0 and the handle time > 0")
    if patience_seconds is not None and not patience_seconds > 0:  # (NaN too)
        raise ValueError("patience must be positive")
    load = calls_per_hour * aht_seconds / 3600.0
    if load == 0.0:  # no load (also if it underflows)
        return Performance(0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)
    if load >= MAX_AGENTS:
        raise Unreachable(f"{load:,.0f} Erlangs: more than {MAX_AGENTS:,} agents would be needed")
    if patience_seconds is None or math.isinf(patience_seconds):  # (never hang up: Erlang C)
        return _erlang_c_search(calls_per_hour, aht_seconds, target)
    return _erlang_a_search(calls_per_hour, aht_seconds, patience_seconds, target)


def _erlang_c_search(calls_per_hour: float, aht: float, target: Target) -> Performance:
    load = calls_per_hour * aht / 3600.0
    n = int(_first_candidate(np.float64(load), target))
    b = float(poisson.pmf(n, load) / poisson.cdf(n, load))  # = erlang_b(n, load), in O(1)
    drain_per_agent = 1.0 / aht
    while n <= MAX_AGENTS:
        c = n * b / (n - load * (1.0 - b))
        drain = (n - load) * drain_per_agent
        p = Performance(
            agents=n,
            load_erlangs=load,
            p_wait=c,
            service_level=1.0 - c * math.exp(-drain * target.answer_within),
            asa_seconds=c / drain,
            occupancy=load / n,
            abandon_rate=0.0,
        )
        if target.met_by(p):
            return p
        n += 1
        b = load * b / (n + load * b)
    raise Unreachable(f"more than {MAX_AGENTS:,} agents would be needed")


def _erlang_a_search(
    calls_per_hour: float, aht: float, patience: float, target: Target
) -> Performance:
    def perf(n: int) -> Performance:
        return erlang_a(
            agents=n,
            calls_per_hour=calls_per_hour,
            aht_seconds=aht,
            patience_seconds=patience,
            answer_within=target.answer_within,
        )

    low, high = 0, max(1, math.ceil(calls_per_hour * aht / 3600.0))
    while not target.met_by(perf(high)):
        low, high = high, high * 2
        if high > MAX_AGENTS:
            raise Unreachable(f"more than {MAX_AGENTS:,} agents would be needed")
    while high - low > 1:  # target not met at `low` (or low == 0), met at `high`
        mid = (low + high) // 2
        if target.met_by(perf(mid)):
            high = mid
        else:
            low = mid
    return perf(high)


def erlang_c_table(
    *, calls_per_hour: npt.ArrayLike, aht_seconds: npt.ArrayLike, target: Target
) -> npt.NDArray[np.int64]:
    """`agents_needed` (Erlang C) for many cells at once, e.g. intervals x language pools.

    Every cell starts at the first stable head-count, floor(load) + 1, with Erlang B taken
    from the truncated Poisson identity B(n, a) = P(X = n) / P(X <= n), X ~ Poisson(a);
    then the cells not yet settled step up together, carrying B's recursion.
    """
    target.check()
    lam = np.asarray(calls_per_hour, dtype=np.float64)
    aht_all = np.broadcast_to(np.asarray(aht_seconds, dtype=np.float64), lam.shape)
    if np.any(lam < 0) or np.any(aht_all <= 0):
        raise ValueError("calls per hour must be >= 0 and handle times > 0")
    load_all = lam * aht_all / 3600.0
    needed = np.zeros(lam.shape, dtype=np.int64)
    cells = np.flatnonzero(load_all > 0)
    load = load_all.ravel()[cells]
    aht = aht_all.ravel()[cells]
    k = _first_candidate(load, target)
    b = poisson.pmf(k, load) / poisson.cdf(k, load)
    while cells.size:
        if k.max() > MAX_AGENTS:
            raise Unreachable(f"more than {MAX_AGENTS:,} agents would be needed")
        c = k * b / (k - load * (1.0 - b))
        drain = (k - load) / aht
        met = 1.0 - c * np.exp(-drain * target.answer_within) >= target.service_level
        if target.asa_seconds is not None:
            met &= c / drain <= target.asa_seconds
        if target.max_occupancy is not None:
            met &= load / k <= target.max_occupancy
        needed.ravel()[cells[met]] = k[met]
        left = ~met
        cells, load, aht, b = cells[left], load[left], aht[left], b[left]
        k = k[left] + 1.0
        b = load * b / (k + load * b)
    return needed


# A decision closer than this to its threshold (absolute for service level and occupancy,
# relative for ASA) is left to the scalar search: the closed forms of `erlang_a_many` and
# the Markov chain of `erlang_a` agree to about 1e-12, so every other decision is theirs.
CLOSE = 1e-9


def erlang_a_table(
    *,
    calls_per_hour: npt.ArrayLike,
    aht_seconds: npt.ArrayLike,
    patience_seconds: npt.ArrayLike,
    target: Target,
) -> npt.NDArray[np.int64]:
    """`agents_needed` with patience (Erlang A) for many cells at once; the arguments
    broadcast together (e.g. intervals x pools, with a patience per pool).

    Every cell follows the scalar search's own path (doubling from the load, then
    bisection), all cells a step at a time; a cell whose figures at any step come within
    `CLOSE` of a threshold, or leave floating point, is searched by `agents_needed`
    itself. So the head-counts are the scalar search's, cell for cell. An infinite
    patience (callers who never hang up) is Erlang C, as `patience_seconds=None` is.
    """
    target.check()
    given = [np.asarray(v, dtype=np.float64)
             for v in (calls_per_hour, aht_seconds, patience_seconds)]  # fmt: skip
    shape = np.broadcast_shapes(*(v.shape for v in given))
    lam, aht, patience = (np.broadcast_to(v, shape).ravel() for v in given)
    if not (np.all(lam >= 0) and np.all(aht > 0)):  # (NaN too)
        raise ValueError("calls per hour must be >= 0 and handle times > 0")
    if not np.all(patience > 0):
        raise ValueError("patience must be positive")
    load = lam * aht / 3600.0
    if np.any(load >= MAX_AGENTS):
        worst = float(load.max())
        raise Unreachable(f"{worst:,.0f} Erlangs: more than {MAX_AGENTS:,} agents would be needed")
    needed = np.zeros(lam.size, dtype=np.int64)
    never = np.isinf(patience) & (load > 0)
    if never.any():
        needed[never] = erlang_c_table(calls_per_hour=lam[never], aht_seconds=aht[never],
                                       target=target)  # fmt: skip
    cells = np.flatnonzero((load > 0) & ~never)
    low = np.zeros(cells.size, dtype=np.int64)
    high = np.maximum(1, np.ceil(load[cells])).astype(np.int64)
    bisecting = np.zeros(cells.size, dtype=bool)
    doubtful = np.zeros(cells.size, dtype=bool)
    while cells.size:
        probe = np.where(bisecting, (low + high) // 2, high)
        met, close = _erlang_a_met(probe, lam[cells], aht[cells], patience[cells], target)
        doubtful |= close
        grow = ~bisecting & ~met
        beyond = grow & (high * 2 > MAX_AGENTS)
        if np.any(beyond & ~doubtful):
            raise Unreachable(f"more than {MAX_AGENTS:,} agents would be needed")
        for cell in cells[beyond]:  # (a close call past 500,000 agents: the scalar says)
            needed[cell] = _scalar(lam[cell], aht[cell], patience[cell], target)
        low = np.where(grow, high, np.where(bisecting & ~met, probe, low))
        high = np.where(grow, high * 2, np.where(bisecting & met, probe, high))
        bisecting |= met
        done = bisecting & (high - low <= 1)
        needed[cells[done]] = high[done]
        done |= beyond
        settled = done & doubtful & ~beyond
        for cell in cells[settled]:  # rare: leave the close calls to the scalar search
            needed[cell] = _scalar(lam[cell], aht[cell], patience[cell], target)
        keep = ~done
        cells, low, high = cells[keep], low[keep], high[keep]
        bisecting, doubtful = bisecting[keep], doubtful[keep]
    return needed.reshape(shape)


def _scalar(calls_per_hour: np.float64, aht: np.float64, patience: np.float64,
            target: Target) -> int:  # fmt: skip
    return agents_needed(calls_per_hour=float(calls_per_hour), aht_seconds=float(aht),
                         target=target, patience_seconds=float(patience)).agents  # fmt: skip


def _erlang_a_met(
    agents: npt.NDArray[np.int64],
    calls_per_hour: npt.NDArray[np.float64],
    aht: npt.NDArray[np.float64],
    patience: npt.NDArray[np.float64],
    target: Target,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Whether each cell meets the target (as `Target.met_by`), and whether that was a
    close call (or a figure is not a number).

    The mean wait of answered calls (a sum over the callers ahead, the costly figure) is
    asked only where the service level and occupancy are met and not close calls
    (elsewhere the target is missed whatever it is, or the scalar search will decide the
    cell), and not where a bound shows it well within its target. A caller who would wait
    V for an agent, with patience of rate theta, is answered with probability e^-theta V
    and waits (1 - e^-theta V) / theta on average, answered or not; as
    V e^-theta V <= (1 - e^-theta V) / theta, E[wait; answered] <= E[wait] =
    P(abandon) / theta, and the mean wait of answered calls is at most
    P(abandon) / (theta P(answered))."""
    p = erlang_a_many(agents=agents, calls_per_hour=calls_per_hour, aht_seconds=aht,
                      patience_seconds=patience, answer_within=target.answer_within)  # fmt: skip
    met = p.service_level >= target.service_level
    close = ~(np.abs(p.service_level - target.service_level) > CLOSE)
    if target.max_occupancy is not None:
        met &= p.occupancy <= target.max_occupancy
        if target.max_occupancy < 1.0:
            close |= ~(np.abs(p.occupancy - target.max_occupancy) > CLOSE)
        else:  # (occupancy is at most 1: always met, in both searches, unless not a number)
            close |= np.isnan(p.occupancy)
    if target.asa_seconds is not None:
        # (P(abandon) given 1e-9 of slack, as a close call is: the closed forms agree with
        # `erlang_a` to about 1e-12)
        with np.errstate(divide="ignore", invalid="ignore"):  # (none answered: no bound)
            bound = (p.abandon_rate + CLOSE) * patience / (1.0 - p.abandon_rate)
        within = bound < target.asa_seconds * (1.0 - CLOSE)
        ask = np.flatnonzero(met & ~close & ~within)
        asa = asa_many(agents=agents[ask], calls_per_hour=calls_per_hour[ask],
                       aht_seconds=aht[ask], patience_seconds=patience[ask])  # fmt: skip
        met[ask] = asa <= target.asa_seconds
        close[ask] = ~(np.abs(asa - target.asa_seconds) > CLOSE * target.asa_seconds)
    return met, close


def _first_candidate(load: Any, target: Target) -> Any:
    """No smaller head-count can meet the target: it must exceed the load (stability) and,
    with an occupancy limit, reach load / limit (one below that, so the exact check in the
    search decides where floating point rounding could go either way)."""
    start = np.floor(load) + 1.0
    if target.max_occupancy is not None:
        start = np.maximum(start, np.ceil(load / target.max_occupancy) - 1.0)
    return start


def with_shrinkage(agents: int, shrinkage: float) -> int:
    """Agents to schedule so that `agents` are on the phones after shrinkage."""
    if not 0.0 <= shrinkage < 1.0:
        raise ValueError("shrinkage must be in [0, 1)")
    return math.ceil(agents / (1.0 - shrinkage) - 1e-9)
