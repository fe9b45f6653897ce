"""Noise, only from OpenDP's vetted samplers, and the arithmetic of sensitivities and scales.

Each person (privacy unit) contributes at most `L` rows to a query (the dataset's contribution
bound), so a person can change a vector of per-group counts by at most `L` in L1, a vector of
per-group sums of values clamped to [lo, hi] by at most `L · max(|lo|, |hi|)`, and a quantile's
candidate scores by at most `L` in L∞. Scales are set from those sensitivities and the ε of each
part; OpenDP's own privacy map then confirms that the measurement spends no more than that ε.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import opendp.prelude as dp

dp.enable_features("contrib")

Z95 = math.log(1 / 0.05)  # a Laplace variable with scale b stays within ±b·ln(20) with probability 0.95


@dataclass(frozen=True)
class Part:
    """One measured quantity of a query: what it releases, the ε it spends, its noise scale."""

    output: str
    measure: str        # count / sum / quantile / selection
    epsilon: float
    scale: float
    sensitivity: float
    delta: float = 0.0

    @property
    def ci95(self) -> float:
        return self.scale * Z95 if self.measure != "quantile" else float("nan")

    def as_dict(self) -> dict:
        d = {"output": self.output, "measure": self.measure, "epsilon": round(self.epsilon, 9),
             "noise_scale": self.scale, "sensitivity": self.sensitivity}
        if self.measure in ("count", "sum", "selection"):
            d["ci95"] = self.ci95
            d["noise_std"] = self.scale * math.sqrt(2)
        if self.delta:
            d["delta"] = self.delta
        return d


@lru_cache(maxsize=256)
def _laplace_int(scale: float):
    return dp.m.make_laplace(dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int), scale=scale)


@lru_cache(maxsize=256)
def _laplace_float(scale: float):
    return dp.m.make_laplace(dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l1_distance(T=float),
                             scale=scale)


@lru_cache(maxsize=256)
def _threshold(scale: float, threshold: int):
    return dp.m.make_laplace_threshold(dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T=int)),
                                       dp.l01inf_distance(dp.absolute_distance(T=int)), scale=scale,
                                       threshold=threshold)


@lru_cache(maxsize=256)
def _noisy_min(scale: float):
    return dp.m.make_noisy_max(dp.vector_domain(dp.atom_domain(T=float, nan=False)),
                               dp.linf_distance(T=float, monotonic=False), scale=scale,
                               output_measure=dp.max_divergence(), negate=True)


@lru_cache(maxsize=1024)
def _fit(make, d_in, epsilon: float, start: float) -> float:
    """The smallest scale (from `start` up, in 0.01% steps) whose privacy map stays within `epsilon`.

    A pure function of public parameters, cached: each OpenDP privacy map costs ~1 ms."""
    scale = start
    for _ in range(200):
        out = make(scale).map(d_in)
        eps = out[0] if isinstance(out, tuple) else out
        if eps <= epsilon * (1 + 1e-12):
            return scale
        scale *= 1.0001
    raise RuntimeError("no scale fits")  # pragma: no cover - OpenDP's maps are linear in 1/scale


def count_part(output: str, epsilon: float, L: int) -> Part:
    scale = _fit(_laplace_int, L, epsilon, L / epsilon)
    return Part(output, "count", epsilon, scale, float(L))


def sum_part(output: str, epsilon: float, L: int, bounds: tuple[float, float]) -> Part:
    sens = float(L) * max(abs(bounds[0]), abs(bounds[1]))
    sens = max(sens, 1e-9)
    scale = _fit(_laplace_float, sens, epsilon, sens / epsilon)
    return Part(output, "sum", epsilon, scale, sens)


def quantile_part(output: str, epsilon: float, L: int) -> Part:
    scale = _fit(_noisy_min, float(L), epsilon, 2.0 * L / epsilon)
    return Part(output, "quantile", epsilon, scale, float(L))


def selection_part(output: str, epsilon: float, L: int, delta: float, min_size: int) -> tuple[Part, int]:
    """Laplace partition selection: the scale for ε and the threshold (≥ min_size) that keeps δ."""
    scale, threshold, d = _selection(epsilon, L, delta, min_size)
    return Part(output, "selection", epsilon, scale, float(L), delta=d), threshold


@lru_cache(maxsize=1024)
def _selection(epsilon: float, L: int, delta: float, min_size: int) -> tuple[float, int, float]:
    """(scale, threshold, δ spent): a pure function of public parameters, cached (a search costs
    some 30 OpenDP privacy maps, ~1 ms each)."""
    scale = L / epsilon
    d_in = (L, L, L)
    threshold = max(int(min_size), L + 1)
    while True:
        eps, d = _threshold(scale, threshold).map(d_in)
        if d <= delta:
            break
        threshold = math.ceil(threshold * 1.25) + 1
    lo, hi = max(int(min_size), L + 1), threshold
    while lo < hi:  # the smallest threshold that keeps δ
        mid = (lo + hi) // 2
        if _threshold(scale, mid).map(d_in)[1] <= delta:
            hi = mid
        else:
            lo = mid + 1
    eps, d = _threshold(scale, lo).map(d_in)
    if eps > epsilon * (1 + 1e-9):  # pragma: no cover - the map is L/scale
        raise RuntimeError("selection overspends")
    return scale, lo, d


def noisy_counts(values: list[int], part: Part) -> list[int]:
    return list(_laplace_int(part.scale)([int(v) for v in values])) if values else []


def noisy_sums(values: list[float], part: Part) -> list[float]:
    clean = [0.0 if (v is None or not math.isfinite(v)) else float(v) for v in values]
    return list(_laplace_float(part.scale)(clean)) if clean else []


def select_partitions(counts: dict[str, int], part: Part, threshold: int) -> dict[str, int]:
    """The keys that pass the noisy threshold, with their noisy counts."""
    return dict(_threshold(part.scale, threshold)(counts)) if counts else {}


def noisy_quantile(lt: list[int], gt: list[int], q: float, candidates: list[float], part: Part) -> float:
    """Pick the candidate whose rank error |(1-q)·#below - q·#above| is smallest, with Gumbel noise."""
    scores = [abs((1 - q) * a - q * b) for a, b in zip(lt, gt, strict=True)]
    idx = _noisy_min(part.scale)(scores)
    return candidates[idx]


def candidate_grid(bounds: tuple[float, float], n: int = 32) -> list[float]:
    lo, hi = bounds
    if hi <= lo:
        return [lo]
    return [lo + (hi - lo) * i / (n - 1) for i in range(n)]
