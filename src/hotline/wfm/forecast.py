"""Forecast hourly call volume with intraday and weekly seasonality, and measure it.

Model: additive Holt-Winters exponential smoothing (statsmodels) with a 168-hour season,
which carries both the shape of the day and the difference between weekdays. The last
`holdout_days` of history are held out: the model is fitted on the rest and its error on
the held-out days is reported as WAPE (sum |error| / sum actual) and MAPE (over hours with
calls), beside the seasonal-naive baseline (the same hour one week earlier). The final
forecast is refitted on all the history.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from statsmodels.tools.sm_exceptions import ConvergenceWarning
from statsmodels.tsa.holtwinters import ExponentialSmoothing

from hotline.wfm.history import History

WEEK = 168


@dataclass(frozen=True)
class SeriesForecast:
    name: str
    forecast: npt.NDArray[np.float64]  # calls per hour after the history ends
    wape: float
    mape: float
    naive_wape: float  # the seasonal-naive baseline on the same holdout


def _fit_predict(train: npt.NDArray[np.float64], horizon: int) -> npt.NDArray[np.float64]:
    with warnings.catch_warnings():
        # short or sparse series may not converge fully; the holdout error shows the result
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        model = ExponentialSmoothing(
            train,
            trend=None,
            seasonal="add",
            seasonal_periods=WEEK,
            initialization_method="estimated",
        ).fit()
    out: npt.NDArray[np.float64] = np.clip(np.asarray(model.forecast(horizon)), 0.0, None)
    return out


def wape(actual: npt.NDArray[np.float64], predicted: npt.NDArray[np.float64]) -> float:
    total = float(actual.sum())
    return float(np.abs(actual - predicted).sum() / total) if total > 0 else 0.0


def mape(actual: npt.NDArray[np.float64], predicted: npt.NDArray[np.float64]) -> float:
    some = actual > 0
    return (
        float(np.mean(np.abs(actual[some] - predicted[some]) / actual[some])) if some.any() else 0.0
    )


def horizon_warning(history: History, horizon_days: int) -> str | None:
    """A caution when the forecast runs further ahead than the history reaches back: past
    that, it repeats the last weekly pattern at the last level, with nothing to check it by."""
    days = history.hours / 24
    if horizon_days <= days:
        return None
    return (
        f"the forecast runs {horizon_days} days ahead from {days:.1f} days of history; past "
        f"{int(days)} days it only repeats the last weekly pattern at its last level (no "
        "trend, no holidays): treat those days with care, or collect more history"
    )


def forecast(
    history: History,
    *,
    horizon_days: int = 7,
    holdout_days: int = 7,
    progress: Callable[[str], None] | None = None,
) -> list[SeriesForecast]:
    if horizon_days < 1 or holdout_days < 1:
        raise ValueError("the horizon and the holdout must be at least one day")
    holdout = holdout_days * 24
    if history.hours < 2 * WEEK + holdout:
        raise ValueError(
            f"the history covers {history.hours / 24:.1f} days; a weekly season needs at least "
            f"two weeks to fit plus {holdout_days} days to test ({2 * 7 + holdout_days} days)"
        )
    out = []
    for name, y in sorted(history.series.items()):
        if progress is not None:
            progress(name)
        train, test = y[:-holdout], y[-holdout:]
        predicted = _fit_predict(train, holdout)
        naive = y[-holdout - WEEK : -WEEK]
        out.append(
            SeriesForecast(
                name=name,
                forecast=_fit_predict(y, horizon_days * 24),
                wape=wape(test, predicted),
                mape=mape(test, predicted),
                naive_wape=wape(test, naive),
            )
        )
    return out
