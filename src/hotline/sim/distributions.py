"""Random durations (IVR time, patience, handle time), sampled in bulk from an injected RNG."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.float64]


class Distribution(Protocol):
    @property
    def mean(self) -> float: ...

    def sample(self, rng: np.random.Generator, n: int) -> Samples: ...


@dataclass(frozen=True, slots=True)
class Fixed:
    value: float

    @property
    def mean(self) -> float:
        return self.value

    def sample(self, rng: np.random.Generator, n: int) -> Samples:
        return np.full(n, self.value, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Exponential:
    mean: float

    def sample(self, rng: np.random.Generator, n: int) -> Samples:
        return rng.exponential(self.mean, n)


@dataclass(frozen=True, slots=True)
class LogNormal:
    """Parametrised by the mean and standard deviation of the durations themselves."""

    mean: float
    sd: float

    def sample(self, rng: np.random.Generator, n: int) -> Samples:
        sigma2 = math.log1p((self.sd / self.mean) ** 2)
        mu = math.log(self.mean) - sigma2 / 2
        return rng.lognormal(mu, math.sqrt(sigma2), n)


@dataclass(frozen=True, slots=True)
class Empirical:
    """Resamples observed durations (e.g. handle times exported from a call log)."""

    values: tuple[float, ...]

    @property
    def mean(self) -> float:
        return sum(self.values) / len(self.values)

    def sample(self, rng: np.random.Generator, n: int) -> Samples:
        return rng.choice(np.asarray(self.values, dtype=np.float64), n)


def scaled(d: Distribution, factor: float) -> Distribution:
    """The same shape of durations, every one `factor` times as long."""
    if isinstance(d, Fixed):
        return Fixed(d.value * factor)
    if isinstance(d, Exponential):
        return Exponential(d.mean * factor)
    if isinstance(d, LogNormal):
        return LogNormal(d.mean * factor, d.sd * factor)
    if isinstance(d, Empirical):
        return Empirical(tuple(v * factor for v in d.values))
    raise TypeError(f"cannot scale {type(d).__name__}")
