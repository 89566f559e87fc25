"""A campaign's comparisons: t quantiles, intervals on a mean and on a ratio of means, verdicts."""
from __future__ import annotations

import json
import math
import random
import statistics

import pytest

from harness.campaign.statistics import (
    Interval,
    compare,
    mean_interval,
    ratio_interval,
    repetitions_needed,
    t_cdf,
    t_quantile,
)

# Two-sided critical values from a printed t table (3 decimals).
T_TABLE = [
    (0.975, 1, 12.706), (0.975, 2, 4.303), (0.975, 4, 2.776), (0.975, 9, 2.262), (0.975, 30, 2.042),
    (0.95, 30, 1.697), (0.9, 5, 1.476), (0.995, 1, 63.657), (0.995, 10, 3.169), (0.9995, 3, 12.924),
]


@pytest.mark.parametrize(("p", "df", "expected"), T_TABLE)
def test_t_quantiles_match_the_table(p: float, df: int, expected: float) -> None:
    assert t_quantile(p, df) == pytest.approx(expected, abs=6e-4)
    assert t_quantile(1 - p, df) == pytest.approx(-expected, abs=6e-4)
    assert t_cdf(t_quantile(p, df), df) == pytest.approx(p, abs=1e-10)


def test_t_quantile_tends_to_the_normal_and_takes_fractional_df() -> None:
    assert t_quantile(0.975, 100_000) == pytest.approx(statistics.NormalDist().inv_cdf(0.975), abs=1e-4)
    assert t_quantile(0.5, 3) == 0.0
    # Between its neighbours, and decreasing in df.
    assert t_quantile(0.975, 3) < t_quantile(0.975, 2.5) < t_quantile(0.975, 2)
    # df = 1 is the Cauchy distribution: the quantile is tan(pi (p - 1/2)).
    assert t_quantile(0.9, 1) == pytest.approx(math.tan(math.pi * 0.4), rel=1e-9)
    with pytest.raises(ValueError):
        t_quantile(1.0, 3)
    with pytest.raises(ValueError):
        t_quantile(0.9, 0)


def test_t_interval_by_hand() -> None:
    interval = mean_interval([10, 12, 14])
    # mean 12, s = 2, half-width t(0.975; 2) * 2 / sqrt(3) = 4.303 * 1.1547 = 4.969
    assert (interval.estimate, interval.method, interval.n) == (12.0, "t", 3)
    assert interval.has_interval
    assert interval.low == pytest.approx(12 - 4.969, abs=1e-3)
    assert interval.high == pytest.approx(12 + 4.969, abs=1e-3)
    narrower = mean_interval([10, 12, 14], confidence=0.9)
    assert interval.low < narrower.low < 12 < narrower.high < interval.high


def test_bootstrap_is_deterministic_and_contains_the_mean() -> None:
    values = [10.31, 12.17, 14.73, 11.29, 13.91, 15.43, 9.61]
    first = mean_interval(values, method="bootstrap", seed=7)
    assert first == mean_interval(values, method="bootstrap", seed=7)
    assert first.method == "bootstrap"
    assert min(values) <= first.low < first.estimate < first.high <= max(values)
    assert first.estimate == pytest.approx(statistics.mean(values))
    other = mean_interval(values, method="bootstrap", seed=8)
    assert other.estimate == first.estimate
    assert (other.low, other.high) != (first.low, first.high)


def test_bootstrap_width_is_that_of_the_mean_s_sampling_spread() -> None:
    rng = random.Random(1)
    values = [rng.gauss(100.0, 10.0) for _ in range(40)]
    interval = mean_interval(values, method="bootstrap", seed=3)
    # The bootstrap's standard error of the mean is s sqrt((n - 1)/n) / sqrt(n).
    n = len(values)
    expected_half = statistics.NormalDist().inv_cdf(0.975) * statistics.stdev(values) * math.sqrt((n - 1) / n) / math.sqrt(n)
    assert (interval.high - interval.low) / 2 == pytest.approx(expected_half, rel=0.1)


@pytest.mark.parametrize("method", ["t", "bootstrap"])
def test_fewer_than_three_values_give_no_interval_and_say_why(method: str) -> None:
    interval = mean_interval([5.0, 6.0], method=method)
    assert interval.estimate == 5.5
    assert not interval.has_interval
    assert (interval.low, interval.high, interval.method) == (None, None, "none")
    assert "2 repetitions" in interval.note and "at least 3" in interval.note
    assert not mean_interval([5.0], method=method).has_interval
    empty = mean_interval([], method=method)
    assert math.isnan(empty.estimate) and empty.to_json()["estimate"] is None


@pytest.mark.parametrize("method", ["t", "bootstrap"])
def test_equal_values_give_a_zero_width_interval(method: str) -> None:
    interval = mean_interval([0.1, 0.1, 0.1, 0.1], method=method)
    assert interval.has_interval
    assert interval.low == interval.estimate == interval.high


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        mean_interval([1.0, 2.0, 3.0], method="jackknife")
    with pytest.raises(ValueError):
        mean_interval([1.0, 2.0, 3.0], confidence=95)
    with pytest.raises(ValueError):
        ratio_interval([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], confidence=0)


def test_fieller_interval_by_hand() -> None:
    base, new = [10.0, 12.0, 14.0], [20.0, 24.0, 28.0]
    interval = ratio_interval(new, base)
    assert (interval.estimate, interval.method, interval.n) == (2.0, "fieller", 3)
    # Same n and same CV on both sides: Welch-Satterthwaite's df is the pooled 3 + 3 - 2 = 4.
    t = t_quantile(0.975, 4)
    mean_x, mean_y, var_x, var_y = 12.0, 24.0, 4.0 / 3, 16.0 / 3
    a = mean_x ** 2 - t * t * var_x
    c = mean_y ** 2 - t * t * var_y
    root = math.sqrt((mean_x * mean_y) ** 2 - a * c)
    assert interval.low == pytest.approx((mean_x * mean_y - root) / a, rel=1e-9)
    assert interval.high == pytest.approx((mean_x * mean_y + root) / a, rel=1e-9)
    assert interval.low == pytest.approx(1.3546, abs=1e-4) and interval.high == pytest.approx(2.9528, abs=1e-4)
    # Both endpoints solve the pivot (ȳ - ρx̄)² = t²(v_y + ρ²v_x).
    for rho in (interval.low, interval.high):
        assert (mean_y - rho * mean_x) ** 2 == pytest.approx(t * t * (var_y + rho * rho * var_x), rel=1e-9)


@pytest.mark.parametrize(("n_new", "n_base"), [(5, 6), (3, 20)])
def test_fieller_interval_covers_the_true_ratio_about_as_often_as_it_says(n_new: int, n_base: int) -> None:
    # A noisy cell over a quiet one, the true ratio 1.5. With few noisy repetitions against many quiet
    # ones the pooled n_x + n_y - 2 degrees of freedom would cover only about 80% of the time.
    rng = random.Random(2024)
    trials, covered = 1000, 0
    for _ in range(trials):
        new = [rng.gauss(150.0, 30.0) for _ in range(n_new)]
        base = [rng.gauss(100.0, 5.0) for _ in range(n_base)]
        interval = ratio_interval(new, base)
        assert interval.method == "fieller"
        covered += interval.low <= 1.5 <= interval.high
    assert 0.925 <= covered / trials <= 0.97


def test_fieller_degrees_of_freedom_are_welch_satterthwaite_s() -> None:
    new, base = [14.0, 20.0, 17.0], [10.0, 10.2, 9.9, 10.1, 9.8, 10.0]
    rho = statistics.mean(new) / statistics.mean(base)
    v_new, v_base = statistics.variance(new) / 3, rho ** 2 * statistics.variance(base) / 6
    df = (v_new + v_base) ** 2 / (v_new ** 2 / 2 + v_base ** 2 / 5)
    assert 2 < df < 2.1                                    # the noisy side's, not the pooled 7
    interval = ratio_interval(new, base)
    assert f"t on {df:.1f} degrees of freedom" in interval.note
    t, mean_x, mean_y = t_quantile(0.975, df), statistics.mean(base), statistics.mean(new)
    var_x, var_y = statistics.variance(base) / 6, statistics.variance(new) / 3
    for rho in (interval.low, interval.high):
        assert (mean_y - rho * mean_x) ** 2 == pytest.approx(t * t * (var_y + rho * rho * var_x), rel=1e-9)


def test_clearly_different_samples_differ_in_the_right_direction() -> None:
    fast = [24.1, 23.6, 24.9, 24.4, 23.8]
    slow = [10.2, 9.9, 10.1, 10.4, 9.8]
    ratio = ratio_interval(fast, slow)
    assert ratio.excludes(1.0) and 1 < ratio.low < ratio.estimate < ratio.high
    assert ratio.estimate == pytest.approx(statistics.mean(fast) / statistics.mean(slow))

    rates = compare("minipc-like", fast, "pi4-like", slow, higher_is_better=True, quantity="rate")
    assert rates.significant and rates.better == "minipc-like"
    assert rates.verdict.startswith("minipc-like's rate is 2.40x pi4-like's (95% CI")
    assert "a real difference, minipc-like is better" in rates.verdict

    # The same numbers as latencies: lower is better, so the other one wins; and a/b flips.
    latencies = compare("pi4-like", slow, "minipc-like", fast, higher_is_better=False, quantity="latency")
    assert latencies.significant and latencies.better == "pi4-like"
    assert latencies.ratio.high < 1
    assert compare("minipc-like", fast, "pi4-like", slow, higher_is_better=False).better == "pi4-like"
    json.dumps(rates.to_json())


def test_same_distribution_is_no_difference_and_says_how_many_repetitions_would_tell() -> None:
    rng = random.Random(5)
    a = [rng.gauss(100.0, 5.0) for _ in range(5)]
    b = [rng.gauss(100.0, 5.0) for _ in range(5)]
    result = compare("policy-a", a, "policy-b", b, higher_is_better=True)
    assert not result.significant and result.better is None
    assert result.ratio.low < 1 < result.ratio.high
    assert result.verdict.startswith("no difference beyond run-to-run noise (ratio ")
    assert result.repetitions_needed is not None and result.repetitions_needed >= 3
    assert f"about {result.repetitions_needed} repetitions each" in result.verdict
    assert "5% difference" in result.verdict
    assert result.repetitions_needed == repetitions_needed(a, b, 0.05)


def test_repetitions_needed_by_hand() -> None:
    a, b = [95.0, 100.0, 105.0], [190.0, 200.0, 210.0]   # CV 0.05 on both sides
    # n = 2 (1.95996 + 0.84162)² 0.05² / d² = 15.698 (0.05 / d)²
    assert repetitions_needed(a, b, 0.05) == 16
    assert repetitions_needed(a, b, 0.10) == 4
    assert repetitions_needed(a, b, 0.01) == 393
    assert repetitions_needed(a, b, 0.50) == 3                 # never fewer than 3
    assert repetitions_needed(a, b) == 3                       # the observed 2x difference
    assert repetitions_needed(a, b, 0.05, power=0.9) > 16
    assert repetitions_needed(a, a) is None                    # no observed difference to tell
    assert repetitions_needed([100.0], b, 0.05) is None        # no spread from one value


def test_ratio_with_fewer_than_three_on_a_side_is_an_estimate_only() -> None:
    ratio = ratio_interval([20.0, 22.0], [10.0, 11.0, 12.0])
    assert ratio.estimate == pytest.approx(21.0 / 11.0)
    assert not ratio.has_interval and ratio.method == "none" and ratio.n == 2
    assert "at least 3" in ratio.note
    result = compare("a", [20.0, 22.0], "b", [10.0, 11.0, 12.0], higher_is_better=True)
    assert not result.significant and result.better is None
    assert result.verdict.startswith("cannot tell a from b yet (ratio 1.91)")


def test_unbounded_fieller_falls_back_to_a_bootstrap() -> None:
    new = [10.0, 11.0, 9.0, 10.0, 10.0]
    base = [-1.0, 0.5, 1.5, -0.8, 0.9]     # mean 0.22: not significantly different from 0
    ratio = ratio_interval(new, base)
    assert ratio.method == "bootstrap"
    assert "Fieller" in ratio.note and "unbounded" in ratio.note and "bootstrap" in ratio.note
    assert ratio == ratio_interval(new, base)
    assert ratio.estimate == pytest.approx(10.0 / 0.22)
    assert ratio.has_interval and ratio.low < 0 and 1 < ratio.estimate < ratio.high
    assert not compare("a", new, "b", base, higher_is_better=True).significant
    # With a base mean far from 0 the same numbers get Fieller's interval.
    assert ratio_interval(new, [value + 10 for value in base]).method == "fieller"


def test_an_all_zero_base_has_no_ratio() -> None:
    ratio = ratio_interval([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    assert not ratio.has_interval and math.isnan(ratio.estimate) and "0" in ratio.note
    result = compare("a", [1.0, 2.0, 3.0], "b", [0.0, 0.0, 0.0], higher_is_better=True)
    assert result.verdict.startswith("cannot compare a with b")
    json.dumps(result.to_json(), allow_nan=False)


def test_constant_samples_compare_without_noise() -> None:
    same = compare("a", [5.0, 5.0, 5.0], "b", [5.0, 5.0, 5.0], higher_is_better=True)
    assert same.ratio.low == same.ratio.high == 1.0 and not same.significant
    apart = compare("a", [5.5, 5.5, 5.5], "b", [5.0, 5.0, 5.0], higher_is_better=True)
    assert apart.significant and apart.better == "a"


def test_interval_json() -> None:
    interval = Interval(1.5, 1.0, 2.0, "t", 4, "", 0.9)
    assert interval.to_json() == {"estimate": 1.5, "low": 1.0, "high": 2.0, "method": "t", "n": 4, "note": "",
                                  "confidence": 0.9}
    assert interval.excludes(0.5) and not interval.excludes(1.5)
    assert not Interval(1.5, None, None, "none", 2, "2 repetitions").excludes(0.0)
