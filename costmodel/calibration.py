"""Fitted efficiency defaults, read from ``data/calibration.toml``.

Model FLOPs utilisation (MFU) of a training run is modelled as

    ln(mfu) = c0 + c_ridge ln(ridge / 200 FLOP/B) + c_size log10(N / 1e9) + c_cluster log10(n)

clipped to ``[min, max]``, where ``ridge = dense peak / memory bandwidth`` is the device's
roofline ridge point (newer devices add FLOP/s faster than bytes/s and reach a smaller
fraction of peak), ``N`` the active parameters (larger matrices run closer to peak) and ``n``
the device count (more devices lose more to communication and failures). The constants are
fitted by ``scripts/fit_calibration.py`` on ``tests/data/training_runs.csv``; the data file
lists the cases it came from and the residual spread used for ranges.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from .profiles import read_toml

__all__ = ["calibration", "inference_calibration", "mfu_from_constants", "provenance"]

RIDGE_REF = 200.0  # FLOP per byte; near an A100's (312e12 / 2.04e12 = 153) and H100's (295)


@cache
def calibration() -> dict:
    """The parsed calibration file (cached)."""
    return read_toml(Path(__file__).resolve().parent / "data" / "calibration.toml")


@cache
def inference_calibration() -> dict:
    """Fitted achievable fractions and overheads of serving (``data/inference_calibration.toml``)."""
    return read_toml(Path(__file__).resolve().parent / "data" / "inference_calibration.toml")["inference"]


def mfu_features(peak_flops, bandwidth, active_params, n_gpus):
    """The regressors of the MFU model, each broadcastable."""
    return (np.log(peak_flops / bandwidth / RIDGE_REF),
            np.log10(np.maximum(active_params, 1.0) / 1e9),
            np.log10(np.maximum(n_gpus, 1.0)))


def mfu_from_constants(c: dict, peak_flops, bandwidth, active_params, n_gpus):
    ridge, size, cluster = mfu_features(peak_flops, bandwidth, active_params, n_gpus)
    log_mfu = c["c0"] + c["c_ridge"] * ridge + c["c_size"] * size + c["c_cluster"] * cluster
    return np.clip(np.exp(log_mfu), c["min"], c["max"])


def provenance() -> dict:
    """What produced an estimate: the costmodel version and the date each set of fitted
    constants was fitted. Every JSON output and report carries it."""
    from . import __version__

    return {"version": __version__,
            "calibration": {"training": calibration()["mfu"]["fitted"], "serving": inference_calibration()["fitted"]}}
