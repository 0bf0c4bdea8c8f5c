"""The range of a training run's energy: its uncertain inputs combined as independent errors.

The footprint's scenarios (:class:`costmodel.energy.FootprintInputs`, a leading axis of typical,
optimistic and pessimistic values) would stack every input's end against the others';
:func:`combine_spreads` moves them so that the energy's range is the root-sum-square of the
hours', the power's and the PUE's spreads.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .energy import FootprintInputs
from .units import FloatArray

__all__ = ["combine_spreads"]


def _ln_spreads(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(down, up) ln-distances of the optimistic and pessimistic scenarios from the typical one."""
    arr = np.asarray(x, dtype=float)
    typ, lo, hi = arr[0], arr[1], arr[2]
    with np.errstate(divide="ignore", invalid="ignore"):
        down = np.where((typ > 0) & (lo > 0), np.log(typ / lo), 0.0)
        up = np.where((typ > 0) & (hi > 0), np.log(hi / typ), 0.0)
    return np.maximum(down, 0.0), np.maximum(up, 0.0)


def combine_spreads(f: FootprintInputs, tdp_w: FloatArray, time_q: tuple[float, float],
                    time_known: FloatArray | bool = False) -> FootprintInputs:
    """Footprint scenarios whose energy range combines the uncertain inputs as independent
    log-normal errors instead of stacking their ends (training: devices busy all the time).

    The spreads are ln-distances from the typical value at the 10th and 90th percentiles:
    power per device ``s_P`` (draw fraction and host power move together: the fit's errors
    are errors of their sum), PUE ``s_pue``, and accelerator-hours ``s_t`` from ``time_q``, the
    (q10, q90) of ln(estimated / published hours) of the training model (zero where
    ``time_known``, e.g. a given MFU). Each end of the energy range is then
    ``exp(+-sqrt(s_t^2 + s_P^2 + s_pue^2))`` from typical; the hours keep their own end, so the
    power inputs move by ``exp(sqrt(s_t^2 + s_p^2) - s_t)``, shared between power per device and
    PUE in proportion to their variances (their expected shares of an error of that size).
    A user-given input has no spread and does not move. Other fields are returned unchanged.
    Where the scaled MFU is clipped at 1, the hours move less than ``s_t`` and the energy range
    is that much narrower than the root-sum-square.

    References
    ----------
    JCGM 100:2008 (GUM), sec. 5.1: combined standard uncertainty of uncorrelated inputs.
    """
    device = np.where(np.isnan(f.power_w), tdp_w * f.busy, f.power_w)  # device_power at u = 1
    power = device + f.host_w
    p_down, p_up = _ln_spreads(power)
    u_down, u_up = _ln_spreads(f.pue)
    t_known = np.asarray(time_known, dtype=bool)
    t_down, t_up = np.where(t_known, 0.0, time_q[1]), np.where(t_known, 0.0, -time_q[0])
    shape = np.broadcast_shapes(np.broadcast(power, f.busy, f.pue).shape, (1,) + t_known.shape)  # the rows of either
    busy, host, pue, dev = (np.array(np.broadcast_to(x, shape), dtype=float) for x in (f.busy, f.host_w, f.pue, device))
    for end, sign, s_p, s_u, s_t in ((1, -1.0, p_down, u_down, t_down), (2, 1.0, p_up, u_up, t_up)):
        var = s_p ** 2 + s_u ** 2
        move = np.sqrt(s_t ** 2 + var) - s_t  # what the power inputs add to the hours' spread
        with np.errstate(divide="ignore", invalid="ignore"):
            k_p = np.where(var > 0, np.exp(sign * move * s_p ** 2 / var), 1.0)
            k_u = np.where(var > 0, np.exp(sign * move * s_u ** 2 / var), 1.0)
            # the uncertain parts of power per device (draw, host) scale so that their sum moves by k_p
            m_dev, m_host = dev[end] != dev[0], host[end] != host[0]
            moving = np.where(m_dev, dev[0], 0.0) + np.where(m_host, host[0], 0.0)
            scale = np.where(moving > 0, 1.0 + (k_p - 1.0) * (dev[0] + host[0]) / moving, 1.0)
        busy[end] = np.where(m_dev, busy[0] * scale, busy[0])
        host[end] = np.where(m_host, host[0] * scale, host[0])
        pue[end] = pue[0] * k_u
    return replace(f, busy=busy, host_w=host, pue=pue)
