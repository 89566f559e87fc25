"""Statistics for comparing a campaign's cells: confidence intervals on a mean and on a ratio of means.

A campaign repeats each cell (hardware profile x class x policy) a few times, and its report compares
cells by the ratio of their means with a confidence interval on that ratio, as Kalibera and Jones
recommend for benchmark results [KJ12, KJ13]: the ratio says how big a difference is, its interval
whether the difference is bigger than the run-to-run noise. Everything here is pure Python (no numpy,
no scipy) and deterministic: bootstraps draw from a seeded ``random.Random``.

Methods:

- A mean: Student's t interval, mean ± t(1 - α/2; n - 1)·s/√n, or a percentile bootstrap of the mean
  (10,000 resamples of the repetitions by default).
- A ratio of two independent means, new/base: Fieller's theorem, the interval of Kalibera and Jones
  for a ratio of means: the ρ for which (ȳ - ρx̄)² ≤ t²(s_y²/n_y + ρ²s_x²/n_x), a quadratic in ρ. It is a
  bounded interval when the base mean is significantly different from 0 (x̄² > t²s_x²/n_x); otherwise
  it is unbounded and the ratio's interval is a percentile bootstrap instead (each side resampled on
  its own), which ``Interval.note`` says.
- The degrees of freedom of that t: Welch-Satterthwaite's, for the variance s_y²/n_y + ρ̂²s_x²/n_x of
  ȳ - ρ̂x̄ at the estimated ratio ρ̂. It lies between min(n_x, n_y) - 1 and the pooled n_x + n_y - 2, and
  is the pooled n_x + n_y - 2 when both sides have as many repetitions and the same coefficient of
  variation; unlike the pooled count, it does not overstate the confidence when one side is much
  noisier than the other.
- The t quantile: exact, by bisection on the t distribution's CDF, which is written with the
  regularized incomplete beta function (its continued fraction, evaluated by Lentz's method).
- Repetitions needed to tell a relative difference d apart: the two-sample normal approximation
  n = 2(z(1 - α/2) + z(power))²·CV²/d² per side, CV² the mean of both sides' squared coefficients of
  variation, and at least 3. It is an estimate from few repetitions, and optimistic for small n.

Fewer than 3 repetitions on a side give an estimate and no interval: from 2 values a 95% t interval is
±12.7 standard errors wide, which says nothing a reader can use.

[KJ12] T. Kalibera, R. Jones. Quantifying performance changes with effect size confidence intervals.
       Technical report, University of Kent, 2012.
[KJ13] T. Kalibera, R. Jones. Rigorous benchmarking in reasonable time. ISMM 2013.
"""
from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Repetitions a side needs before it gets an interval.
MIN_REPETITIONS = 3
RESAMPLES = 10_000


@dataclass(frozen=True)
class Interval:
    """An estimate and its confidence interval, or the estimate alone and, in ``note``, why."""
    estimate: float
    low: float | None
    high: float | None
    method: str             # "t", "bootstrap", "fieller" (a ratio) or "none"
    n: int                  # repetitions; of a ratio, those of the side with fewer
    note: str = ""
    confidence: float = 0.95

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None

    def excludes(self, value: float) -> bool:
        """Whether the interval lies wholly on one side of ``value`` (False without an interval)."""
        return self.has_interval and (self.low > value or self.high < value)

    def to_json(self) -> dict[str, Any]:
        return {"estimate": _finite(self.estimate), "low": self.low, "high": self.high, "method": self.method,
                "n": self.n, "note": self.note, "confidence": self.confidence}


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


# --- Student's t distribution ---------------------------------------------------------------------

def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the regularized incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 10_000):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return fraction


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularized incomplete beta function."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` (possibly fractional) degrees of freedom."""
    tail = 0.5 * _incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The t with P(T <= t) = p, by bisection on :func:`t_cdf` (exact to about 1e-12)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"a quantile needs 0 < p < 1, not {p}")
    if not df > 0:
        raise ValueError(f"a t distribution needs degrees of freedom > 0, not {df}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    if p == 0.5:
        return 0.0
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, high * 2.0
    for _ in range(200):
        middle = (low + high) / 2.0
        if middle in (low, high):
            break
        if t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
    return (low + high) / 2.0


# --- intervals --------------------------------------------------------------------------------------

def _floats(values: Sequence[float]) -> list[float]:
    return [float(value) for value in values]


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence}")


def _too_few(n: int) -> str:
    return f"{n} repetition{'' if n == 1 else 's'}: an interval needs at least {MIN_REPETITIONS}"


def _percentile_bounds(estimates: list[float], confidence: float) -> tuple[float, float]:
    """The (1 - confidence)/2 and (1 + confidence)/2 quantiles, interpolated linearly between order statistics."""
    ordered = sorted(estimates)

    def quantile(q: float) -> float:
        position = q * (len(ordered) - 1)
        below = math.floor(position)
        fraction = position - below
        if fraction == 0.0 or ordered[below] == ordered[below + 1]:
            return ordered[below]
        return ordered[below] + fraction * (ordered[below + 1] - ordered[below])

    return quantile((1.0 - confidence) / 2.0), quantile((1.0 + confidence) / 2.0)


def mean_interval(values: Sequence[float], confidence: float = 0.95, method: str = "t", *,
                  resamples: int = RESAMPLES, seed: int = 0) -> Interval:
    """The mean of ``values`` with a Student's t (``method="t"``) or percentile bootstrap interval."""
    _check_confidence(confidence)
    if method not in ("t", "bootstrap"):
        raise ValueError(f"method must be 't' or 'bootstrap', not {method!r}")
    data = _floats(values)
    n = len(data)
    if n == 0:
        return Interval(math.nan, None, None, "none", 0, "no repetitions", confidence)
    mean = _mean(data)
    if n < MIN_REPETITIONS:
        return Interval(mean, None, None, "none", n, _too_few(n), confidence)
    if method == "t":
        half_width = t_quantile((1.0 + confidence) / 2.0, n - 1) * statistics.stdev(data) / math.sqrt(n)
        return Interval(mean, mean - half_width, mean + half_width, "t", n,
                        f"Student's t on {n - 1} degrees of freedom", confidence)
    rng = random.Random(seed)
    means = [_mean(rng.choices(data, k=n)) for _ in range(resamples)]
    low, high = _percentile_bounds(means, confidence)
    return Interval(mean, low, high, "bootstrap", n, f"percentile bootstrap, {resamples} resamples", confidence)


def _welch_df(variance_a: float, n_a: int, variance_b: float, n_b: int) -> float:
    """Welch-Satterthwaite degrees of freedom of a sum of two variances of means (the pooled count if both are 0)."""
    total = variance_a + variance_b
    if not math.isfinite(total) or total <= 0.0:
        return float(n_a + n_b - 2)
    return total * total / (variance_a ** 2 / (n_a - 1) + variance_b ** 2 / (n_b - 1))


def _bootstrap_ratios(new: list[float], base: list[float], resamples: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    ratios = []
    for _ in range(resamples):
        numerator, denominator = _mean(rng.choices(new, k=len(new))), _mean(rng.choices(base, k=len(base)))
        # A resampled base mean of exactly 0 makes the ratio infinite, on its numerator's side.
        ratios.append(numerator / denominator if denominator else math.copysign(math.inf, numerator))
    return ratios


def ratio_interval(new: Sequence[float], base: Sequence[float], confidence: float = 0.95, *,
                   resamples: int = RESAMPLES, seed: int = 0) -> Interval:
    """mean(new)/mean(base) with Fieller's interval, or a bootstrap one where Fieller's is unbounded."""
    _check_confidence(confidence)
    y, x = _floats(new), _floats(base)
    n = min(len(y), len(x))
    if n == 0:
        return Interval(math.nan, None, None, "none", 0, "no repetitions on one side", confidence)
    mean_y, mean_x = _mean(y), _mean(x)
    estimate = mean_y / mean_x if mean_x else math.nan
    if n < MIN_REPETITIONS:
        note = f"{len(y)} and {len(x)} repetitions: an interval needs at least {MIN_REPETITIONS} on each side"
        return Interval(estimate, None, None, "none", n, note, confidence)
    variance_y, variance_x = statistics.variance(y) / len(y), statistics.variance(x) / len(x)
    if mean_x == 0.0 and variance_x == 0.0:
        return Interval(estimate, None, None, "none", n, "every base value is 0: there is no ratio", confidence)
    df = _welch_df(variance_y, len(y), estimate ** 2 * variance_x, len(x))
    t = t_quantile((1.0 + confidence) / 2.0, df)
    # (ȳ - ρx̄)² ≤ t²(v_y + ρ²v_x)  <=>  aρ² - 2x̄ȳρ + c ≤ 0
    a = mean_x * mean_x - t * t * variance_x
    if a > 0.0:
        c = mean_y * mean_y - t * t * variance_y
        root = math.sqrt(max(0.0, (mean_x * mean_y) ** 2 - a * c))
        return Interval(estimate, (mean_x * mean_y - root) / a, (mean_x * mean_y + root) / a, "fieller", n,
                        f"Fieller's theorem, t on {df:.1f} degrees of freedom", confidence)
    low, high = _percentile_bounds(_bootstrap_ratios(y, x, resamples, seed), confidence)
    fallback = ("Fieller's interval is unbounded (the base mean is not significantly different from 0), "
                f"so a percentile bootstrap of the ratio, {resamples} resamples")
    if not (math.isfinite(low) and math.isfinite(high)):
        return Interval(estimate, None, None, "bootstrap", n, f"{fallback}, which is unbounded too", confidence)
    return Interval(estimate, low, high, "bootstrap", n, fallback, confidence)


def repetitions_needed(values_a: Sequence[float], values_b: Sequence[float], relative_difference: float | None = None,
                       confidence: float = 0.95, power: float = 0.8) -> int | None:
    """Repetitions per side to tell apart, with probability ``power``, means that differ by ``relative_difference``
    (0.05: 5%; None: the observed difference), from the pooled coefficient of variation of both samples.
    None when it cannot be estimated: fewer than 2 values on a side, a mean of 0, or no difference to tell."""
    _check_confidence(confidence)
    _check_confidence(power)
    a, b = _floats(values_a), _floats(values_b)
    if len(a) < 2 or len(b) < 2:
        return None
    mean_a, mean_b = _mean(a), _mean(b)
    if mean_a == 0.0 or mean_b == 0.0:
        return None
    difference = abs(mean_a / mean_b - 1.0) if relative_difference is None else abs(relative_difference)
    if not difference > 0.0:
        return None
    cv_squared = ((statistics.stdev(a) / mean_a) ** 2 + (statistics.stdev(b) / mean_b) ** 2) / 2.0
    normal = statistics.NormalDist()
    z = normal.inv_cdf((1.0 + confidence) / 2.0) + normal.inv_cdf(power)
    return max(MIN_REPETITIONS, math.ceil(2.0 * z * z * cv_squared / difference ** 2))


# --- comparisons ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Comparison:
    """Cell a against cell b by the ratio of their means a/b."""
    name_a: str
    name_b: str
    higher_is_better: bool
    better: str | None          # the better cell's name; None when they cannot be told apart
    significant: bool           # the ratio's interval excludes 1
    ratio: Interval
    verdict: str                # one sentence for a user
    repetitions_needed: int | None   # per side, to tell the smallest difference of interest apart

    def to_json(self) -> dict[str, Any]:
        return {"name_a": self.name_a, "name_b": self.name_b, "higher_is_better": self.higher_is_better,
                "better": self.better, "significant": self.significant, "ratio": self.ratio.to_json(),
                "verdict": self.verdict, "repetitions_needed": self.repetitions_needed}


def _figures(*values: float) -> list[str]:
    """``values`` with the fewest decimals (2 to 4) that keep distinct values distinct."""
    for decimals in (2, 3, 4):
        shown = [f"{value:.{decimals}f}" for value in values]
        if len(set(shown)) == len(set(values)):
            break
    return shown


def compare(name_a: str, values_a: Sequence[float], name_b: str, values_b: Sequence[float], higher_is_better: bool,
            confidence: float = 0.95, *, smallest_difference: float = 0.05, quantity: str = "mean") -> Comparison:
    """Compare cell a with cell b (repetitions' values of one figure, ``quantity`` naming it in the verdict).

    ``repetitions_needed`` is per side, to tell a ``smallest_difference`` (5%) apart."""
    ratio = ratio_interval(values_a, values_b, confidence)
    needed = repetitions_needed(values_a, values_b, smallest_difference, confidence)
    level = f"{confidence * 100:g}%"
    significant = ratio.excludes(1.0)
    better = None
    if not ratio.has_interval:
        if math.isfinite(ratio.estimate):
            verdict = f"cannot tell {name_a} from {name_b} yet (ratio {_figures(ratio.estimate)[0]}): {ratio.note}"
        else:
            verdict = f"cannot compare {name_a} with {name_b}: {ratio.note}"
    elif significant:
        better = name_a if (ratio.estimate > 1.0) == higher_is_better else name_b
        estimate, low, high = _figures(ratio.estimate, ratio.low, ratio.high)
        verdict = (f"{name_a}'s {quantity} is {estimate}x {name_b}'s ({level} CI {low}–{high}x): "
                   f"a real difference, {better} is better")
    else:
        estimate, low, high = _figures(ratio.estimate, ratio.low, ratio.high)
        verdict = f"no difference beyond run-to-run noise (ratio {estimate}, {level} CI {low}–{high})"
        if needed is not None:
            verdict += (f": about {needed} repetitions each (there are {ratio.n}) would tell "
                        f"a {smallest_difference * 100:g}% difference apart")
    return Comparison(name_a, name_b, higher_is_better, better, significant, ratio, verdict, needed)
