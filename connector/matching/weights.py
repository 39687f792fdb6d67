"""Fellegi-Sunter weights estimated without labels: EM over comparison vectors.

An admin rarely knows how often two strangers share a postcode (u) or how often
a person's second entry keeps it (m). Both can be read off the candidate pairs
themselves, as splink and recordlinkage do: the pairs are a mixture of
duplicates and strangers, and expectation-maximisation under conditional
independence separates the two. Pure Python and free of the rest of leadsync,
so the benchmark (and later a ``leadsync`` command) can feed it any vectors.

    est = estimate(["first_name", "postal_code"], [(AGREE, AGREE), (DIFFER, None), ...])
    est.weights()["postal_code"]  # (log2 m/u when agreeing, when differing)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DIFFER, NEUTRAL, AGREE = 0, 1, 2
"""Comparison levels of one field in a vector; None is a value missing on a side."""
LEVELS = 3
FLOOR = 1e-4
"""Least probability a level keeps, so a level never seen weighs finitely."""


@dataclass(frozen=True)
class Estimate:
    fields: tuple[str, ...]
    m: tuple[tuple[float, ...], ...]
    """Per field, P(level | same person) for DIFFER, NEUTRAL, AGREE."""
    u: tuple[tuple[float, ...], ...]
    """Per field, P(level | two people)."""
    prior: float
    """The share of candidate pairs that are duplicates (lambda)."""
    iterations: int

    def weights(self) -> dict[str, tuple[float, float]]:
        """(agreeing, differing) log2 weights per field, as ``[matching.fields]`` takes them."""
        return {name: (math.log2(m[AGREE] / u[AGREE]), math.log2(m[DIFFER] / u[DIFFER]))
                for name, m, u in zip(self.fields, self.m, self.u, strict=True)}


def estimate(fields: Sequence[str], vectors: Iterable[Sequence[int | None]], *,
             prior: float = 0.1, iterations: int = 200, tolerance: float = 1e-7) -> Estimate:
    """m, u and the prior by EM from unlabelled comparison vectors.

    Starts from "duplicates mostly agree, strangers mostly differ" (which names
    the two classes) and iterates until the prior moves less than ``tolerance``."""
    counts = Counter(tuple(v) for v in vectors)
    if not counts:
        raise ValueError("no comparison vectors to estimate from")
    width = len(fields)
    if any(len(v) != width for v in counts):
        raise ValueError(f"every vector needs one level per field ({width})")
    m = [[0.1, 0.1, 0.8] for _ in fields]
    u = [[0.8, 0.1, 0.1] for _ in fields]
    done = 0
    while done < iterations:
        done += 1
        m_sum = [[0.0] * LEVELS for _ in fields]
        u_sum = [[0.0] * LEVELS for _ in fields]
        matched = 0.0
        for vector, count in counts.items():
            p_m, p_u = prior, 1 - prior
            for i, level in enumerate(vector):
                if level is not None:
                    p_m *= m[i][level]
                    p_u *= u[i][level]
            g = p_m / (p_m + p_u) if p_m + p_u else 0.0
            matched += g * count
            for i, level in enumerate(vector):
                if level is not None:
                    m_sum[i][level] += g * count
                    u_sum[i][level] += (1 - g) * count
        m, u = _normalised(m_sum), _normalised(u_sum)
        moved, prior = abs(matched / counts.total() - prior), matched / counts.total()
        if moved < tolerance:
            break
    return Estimate(tuple(fields), tuple(map(tuple, m)), tuple(map(tuple, u)), prior, done)


def _normalised(sums: list[list[float]]) -> list[list[float]]:
    out = []
    for row in sums:
        total = sum(row)
        shares = [max(FLOOR, x / total) if total else 1 / LEVELS for x in row]
        out.append([x / sum(shares) for x in shares])
    return out
