"""Scaling laws: predicted loss from parameters and data, their compute-optimal split, and
the discount of repeated data. The planning that uses them is in :mod:`costmodel.planning`.

Laws and their constants live in ``data/scaling_laws.toml`` with their sources. Compute is
``C = 6 N D`` (Kaplan et al. 2020), the convention the laws were fitted with.

References
----------
Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models" (parametric loss,
approach 3); Besiroglu et al. 2024, "Chinchilla Scaling: A replication attempt" (re-fit, the
default); Kaplan et al. 2020; Muennighoff et al. 2023, "Scaling Data-Constrained Language
Models" (repeated data); Sardana et al. 2023, "Beyond Chinchilla-Optimal: Accounting for
Inference in Language Model Scaling Laws" (lifetime-optimal size).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from .datafiles import read_toml
from .errors import UnitError, unknown
from .listing import one_value
from .units import CountLike, parse_count

__all__ = ["ScalingLaw", "get_law", "law_count", "predict_loss", "effective_data", "data_constrained_loss",
           "params_for_tokens"]


@dataclass(frozen=True, slots=True)
class ScalingLaw:
    """A parametric loss law; ``loss(N, D)`` works on floats and arrays."""

    id: str
    form: str
    constants: dict
    source: str

    @property
    def irreducible(self) -> float:
        return self.constants.get("E", 0.0)

    def loss(self, n, d):
        c = self.constants
        if self.form == "kaplan":
            return ((c["N_c"] / n) ** (c["alpha_N"] / c["alpha_D"]) + c["D_c"] / d) ** c["alpha_D"]
        return c["E"] + c["A"] / n ** c["alpha"] + c["B"] / d ** c["beta"]

    def optimal_params(self, flops):
        """Loss-minimising N at compute C with D = C / (6 N): closed form for the Chinchilla
        form (Hoffmann et al. 2022, Eq. 4), a numerical search for Kaplan's."""
        c = self.constants
        if self.form == "chinchilla":
            a, b = c["alpha"], c["beta"]
            g = (a * c["A"] / (b * c["B"])) ** (1.0 / (a + b))
            return g * (np.asarray(flops, dtype=float) / 6.0) ** (b / (a + b))
        return _grid_argmin(lambda n, f: self.loss(n, f / (6.0 * n)), flops)

    def tokens_for_loss(self, n, target):
        """D that reaches ``target`` loss with N parameters (inf where N alone cannot)."""
        c = self.constants
        if self.form == "kaplan":
            gap = target ** (1.0 / c["alpha_D"]) - (c["N_c"] / n) ** (c["alpha_N"] / c["alpha_D"])
            with np.errstate(divide="ignore", over="ignore"):
                return np.where(gap > 0, c["D_c"] / np.maximum(gap, 1e-300), np.inf)
        gap = target - c["E"] - c["A"] / n ** c["alpha"]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return np.where(gap > 0, (c["B"] / np.maximum(gap, 1e-300)) ** (1.0 / c["beta"]), np.inf)


def _grid_argmin(objective, flops, lo=1e3, hi=1e16, points=4001):
    """Argmin over N on a log grid (refined once) for each compute value."""
    flops = np.atleast_1d(np.asarray(flops, dtype=float))
    grid = np.logspace(np.log10(lo), np.log10(hi), points)
    out = []
    for f in flops:
        values = objective(grid, f)
        i = int(np.argmin(values))
        fine = np.logspace(np.log10(grid[max(i - 1, 0)]), np.log10(grid[min(i + 1, points - 1)]), 401)
        out.append(fine[int(np.argmin(objective(fine, f)))])
    return np.array(out) if len(out) > 1 else out[0]


@cache
def _laws() -> tuple[dict[str, ScalingLaw], dict[str, Any]]:
    data = read_toml(Path(__file__).resolve().parent / "data" / "scaling_laws.toml", cache=True)
    laws = {}
    for key, table in data["law"].items():
        constants = {k: float(v) for k, v in table.items() if isinstance(v, (int, float))}
        laws[key] = ScalingLaw(id=key, form=table["form"], constants=constants, source=table["source"])
    return laws, data["data_constrained"]


def get_law(name: str) -> ScalingLaw:
    """A loss law by id: ``besiroglu2024`` (default), ``hoffmann2022``, ``kaplan2020``."""
    laws = _laws()[0]
    if not isinstance(name, str) or name not in laws:
        raise unknown(str(name), laws, what="scaling law", command="costmodel optimal --help", argument="law")
    return laws[name]


def law_count(value: CountLike, name: str, what: str) -> float:
    """A count a loss law takes (parameters, tokens): at least one, since a law's ratios of
    them (tokens per parameter, epochs of the unique data) have no meaning below one and
    overflow near zero."""
    count = parse_count(one_value(value, name), name)
    if count < 1.0:
        raise UnitError(f"expected at least one {what}, got {value!r}", argument=name)
    return count


def predict_loss(params: CountLike, tokens: CountLike, *, law: str = "besiroglu2024") -> float:
    """Predicted loss (nats per token) of N parameters trained on D tokens.

    >>> round(predict_loss("70B", "1.4T"), 3)
    1.977
    """
    n, d = law_count(params, "params", "parameter"), law_count(tokens, "tokens", "token")
    return float(get_law(law).loss(n, d))


def effective_data(tokens, unique_tokens, r_star):
    """Muennighoff et al. 2023, Eq. 5: repeated tokens are worth less each epoch."""
    repeats = np.maximum(tokens / unique_tokens - 1.0, 0.0)
    return np.where(tokens > unique_tokens, unique_tokens + unique_tokens * r_star * (1.0 - np.exp(-repeats / r_star)),
                    tokens)


def data_constrained_loss(law: ScalingLaw, n, flops, unique_tokens):
    """Loss at N with D = C / (6N) when only ``unique_tokens`` exist (Muennighoff et al. 2023).

    Effective data decays with repetition (R*_D); parameters beyond U_N, the compute-optimal
    size for the unique data, decay the same way (R*_N). Returns ``(loss, effective tokens)``.
    """
    dc = _laws()[1]
    d_eff = effective_data(flops / (6.0 * n), unique_tokens, dc["R_D_star"])
    u_n = params_for_tokens(law, unique_tokens)
    excess = np.maximum(n / u_n - 1.0, 0.0)
    n_eff = np.where(n > u_n, u_n + u_n * dc["R_N_star"] * (1.0 - np.exp(-excess / dc["R_N_star"])), n)
    return law.loss(n_eff, d_eff), d_eff


def params_for_tokens(law: ScalingLaw, tokens: float) -> float:
    """The compute-optimal N whose optimal D equals ``tokens`` (U_N for U_D in Muennighoff)."""
    flops = np.logspace(8, 34, 521)
    n_opt = np.asarray(law.optimal_params(flops), dtype=float)
    return float(np.exp(np.interp(np.log(tokens), np.log(flops / (6.0 * n_opt)), np.log(n_opt))))
