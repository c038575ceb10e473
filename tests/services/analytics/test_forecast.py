"""The forecast against seasonal naive on generated history (a rolling-origin backtest)."""

from __future__ import annotations

from datetime import date

from bobaku.services.analytics.domain import history
from bobaku.services.analytics.service_layer.forecast import (
    backtest,
    forecast_daily,
    hour_profile,
    seasonal_naive,
)

START = date(2026, 1, 1)
DAYS = 300


def test_the_forecast_beats_seasonal_naive_on_the_generated_history_by_a_margin() -> None:
    sales = list(
        history.generate(START, DAYS, seed=11, outlets=history.OUTLETS[:2],
                         items=("m001", "m003", history.SEASONAL_ITEM))
    )  # fmt: skip
    daily = history.daily_series(iter(sales), START, DAYS)
    hourly = history.hourly_series(iter(sales), START, DAYS)
    result = backtest(daily, hourly, START.weekday(), origins=2)
    assert result.series == 6
    # At least 10% less absolute error than last week's figures, daily and hourly.
    assert result.daily_wape < 0.9 * result.naive_daily_wape, result
    assert result.hourly_wape < 0.95 * result.naive_hourly_wape, result
    assert result.daily_mape < result.naive_daily_mape, result


def test_the_generated_year_has_its_shapes() -> None:
    mall, kiosk = history.OUTLETS[0], history.OUTLETS[5]
    weekday, weekend = date(2026, 8, 5), date(2026, 8, 8)
    assert history.rate(mall, "m001", weekend, 12) > history.rate(mall, "m001", weekday, 12)
    assert history.rate(mall, "m001", weekday, 3) == 0.0
    assert history.rate(kiosk, "m001", weekday, 3) > 0.0  # open around the clock
    ramadan = date(2026, 3, 2)
    assert history.rate(mall, "m001", ramadan, 19) > history.rate(
        mall, "m001", date(2026, 4, 8), 19
    )
    assert history.rate(mall, "m001", ramadan, 13) < history.rate(
        mall, "m001", date(2026, 4, 8), 13
    )
    assert history.rate(mall, "m001", date(2026, 12, 2), 15) < history.rate(
        mall, "m001", weekday, 15
    )
    assert history.rate(mall, history.SEASONAL_ITEM, date(2026, 6, 30), 12) == 0.0
    assert history.rate(mall, history.SEASONAL_ITEM, date(2026, 7, 3), 12) > 0.0


def test_the_band_holds_the_mean_and_short_histories_fall_back_to_naive() -> None:
    series = [10.0, 12, 11, 13, 20, 25, 22] * 8
    fc = forecast_daily(series, 7)
    assert all(lo <= m <= hi for lo, m, hi in zip(fc.low, fc.mean, fc.high, strict=True))
    assert fc.mean[5] > fc.mean[0]  # the weekly shape carries over
    assert forecast_daily(series[:10], 7).mean == seasonal_naive(series[:10], 7)
    profile = hour_profile([1.0 if h == 12 else 0.0 for h in range(24)] * 14, 0)
    assert profile[3][12] == 1.0
