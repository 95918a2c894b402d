"""The survey formulas (docs/surveys.md): each score with its 95 % margin, from group counts.

Every figure the room shows — results, drivers, the import's check figure — comes from here, so
a formula lives once. Counts, not rows: the callers aggregate in SQL and pass what came back.
"""

import math
from dataclasses import dataclass

from portal.surveys.models import Metric

Z95 = 1.96
SMALL_SAMPLE = 30  # below this many answers the page says the sample is small


@dataclass(frozen=True)
class Score:
    """A programme's score over `n` answers: NPS in points (−100…100), CSAT and CES in percent
    (share of satisfied / low-effort answers), each with its 95 % margin in the same unit."""

    metric: str
    n: int
    high: int
    middle: int
    low: int
    value: float | None
    margin: float | None

    @property
    def small_sample(self) -> bool:
        return self.n < SMALL_SAMPLE


def score(metric: str, high: int, middle: int, low: int) -> Score:
    """NPS = %promoters − %detractors with Var = 100²·[p(1−p) + d(1−d) + 2pd]/n; CSAT and CES =
    % of the high group with the normal-approximation margin 100·1.96·√(p(1−p)/n)."""
    n = high + middle + low
    if n == 0:
        return Score(metric, 0, 0, 0, 0, None, None)
    p, d = high / n, low / n
    if metric == Metric.NPS.value:
        value = 100 * (p - d)
        variance = 100**2 * (p * (1 - p) + d * (1 - d) + 2 * p * d) / n
    else:
        value = 100 * p
        variance = 100**2 * p * (1 - p) / n
    return Score(metric, n, high, middle, low, value, Z95 * math.sqrt(variance))
