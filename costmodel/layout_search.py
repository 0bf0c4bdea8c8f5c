"""The parallel layout of a training run chosen by its step time (the figures of one layout:
:mod:`costmodel.layout_model`, whose names this module re-exports).

Where ``tp``, ``pp`` or the ZeRO stage is not given, :func:`search_layout` evaluates every
candidate layout on a leading axis (floats or per-row arrays alike) with the step-time model of
:mod:`costmodel.steptime` and the memory model of :mod:`costmodel.memory`, and keeps the fastest
that fits; :func:`costmodel.training_pipeline.evaluate` builds the rest of the pipeline on it.
"""

from __future__ import annotations

import math
from dataclasses import fields, replace
from typing import Any

import numpy as np

from . import steptime as st
from .calibration import TrainingCalibration
from .elementwise import fmod, isnan, maximum, ndim, where
from .layout import TrainingLayout
from .layout_model import (TrainingHardware, batch_free_degrees, batch_free_terms, chosen_seconds, combine_terms,
                           layout_memory, layout_terms, wanted_batch, work_flops)
from .units import FloatArray
from .workload import TrainingModel

__all__ = ["TrainingHardware", "CANDIDATES", "candidates", "layout_memory", "layout_terms", "batch_free_terms",
           "batch_free_degrees", "fastest_of", "layout_figures", "parts_figures", "shortlist_layouts", "shortlisted",
           "undominated", "wanted_batch", "combine_terms", "search_layout", "work_flops", "chosen_seconds",
           "choose_layout"]


# The layouts the default searches when tp, pp or the ZeRO stage is not given, Megatron-style:
# tensor parallelism inside a node, and ZeRO-1 (a distributed optimizer) or ZeRO-3 (FSDP), each
# with the fewest pipeline stages that fit in memory; the fastest of those is used, and when
# none fits, the one needing least memory.
_TP_C, _PP_C, _ZERO_C = [1.0, 2.0, 4.0, 8.0, 16.0], [1.0, 2.0, 4.0, 8.0, 16.0, 32.0], [1.0, 3.0]
_TP, _PP, _ZERO = np.meshgrid(_TP_C, _PP_C, _ZERO_C, indexing="ij")
CANDIDATES = (_TP.ravel(), _PP.ravel(), _ZERO.ravel())


def candidates(lay: TrainingLayout, ndim: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(tp, pp, zero) of every layout to try, on a leading axis; given degrees replace the search."""
    axis = (-1,) + (1,) * ndim
    tp, pp, zero = (c.reshape(axis) for c in CANDIDATES)
    return (where(isnan(lay.tp), tp, lay.tp), where(isnan(lay.pp), pp, lay.pp),
            where(isnan(lay.zero_stage), zero, lay.zero_stage))


def _pick(index, *arrays):
    """Each array's entry at the chosen candidate (``index``, per row)."""
    if ndim(index) == 0:  # one configuration: plain indexing
        i = int(index)
        return [a[i] if isinstance(a, np.ndarray) and a.ndim else a for a in arrays]
    shape = np.broadcast_shapes(*(np.shape(a) for a in arrays), (1,) + np.shape(index))
    if shape[0] == 1:  # one candidate (the layout chosen already): its figures as they are
        return [a[0] if ndim(a) == len(shape) else a for a in arrays]
    return [np.take_along_axis(np.broadcast_to(a, shape), index[None], 0)[0] for a in arrays]


def shortlist_layouts(m: TrainingModel, h: TrainingHardware, lay: TrainingLayout, tp: FloatArray, pp: FloatArray,
               zero: FloatArray, total: FloatArray) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
    """Memory first, on every candidate: layouts whose data-parallel degree the global batch
    asked for can feed come first (only where none can is the batch raised to one micro-batch
    per rank); then each (tp, ZeRO stage) keeps its fewest pipeline stages, and the
    least-memory valid layout stands in where none fits (:func:`_least`). Returns the 10
    shortlisted candidates' positions on the candidate axis, whether each fits, which
    candidates are valid layouts, and the shape of the candidates by the rows."""
    n, cp = lay.n_gpus, lay.cp
    heads = where(m.shape_derived > 0, 0.0, m.heads)
    valid = ((tp <= maximum(h.node, 1.0)) | ~isnan(lay.tp)) & (tp * pp * cp <= n) & (fmod(n, tp * pp * cp) == 0)
    valid = valid & ((heads <= 0) | (fmod(heads, tp) == 0)) & ((pp <= maximum(m.layers, 1.0)) | ~isnan(lay.pp))
    feeds = maximum(n / (tp * pp * cp), 1.0) * lay.micro_batch * maximum(m.seq_len, 1.0)
    asked = wanted_batch(m, lay) * (1.0 + 1e-9)
    full = np.broadcast_shapes(*(np.shape(x) for x in (tp, pp, zero, total, valid, h.capacity, feeds, asked)))
    ok = np.broadcast_to(valid & (total <= h.capacity), full)
    roomy = ok & (feeds <= asked)
    grid = (len(_TP_C), len(_PP_C), len(_ZERO_C)) + full[1:]
    kept = where(roomy.any(axis=0), roomy, ok).reshape(grid)
    stage = np.argmax(kept, axis=1)  # the fewest fitting stages' pipeline index per (tp, ZeRO stage)
    t_i = np.arange(len(_TP_C)).reshape((-1, 1) + (1,) * (len(full) - 1))
    z_i = np.arange(len(_ZERO_C)).reshape((1, -1) + (1,) * (len(full) - 1))
    at = ((t_i * len(_PP_C) + stage) * len(_ZERO_C) + z_i).reshape((-1,) + full[1:])
    return at, kept.any(axis=1).reshape((-1,) + full[1:]), valid, full


def _least(valid: np.ndarray, total: FloatArray, full: tuple, rows: tuple = ()) -> np.ndarray:
    """The least-memory valid candidate's position (the first where none is valid), at every
    row or at the rows ``rows`` (index arrays into ``full[1:]``)."""
    at = (slice(None),) + rows
    return np.argmin(where(np.broadcast_to(valid, full)[at], np.broadcast_to(total, full)[at], np.inf), axis=0)


def _gather(a: FloatArray, at: np.ndarray, full: tuple) -> np.ndarray:
    """``a`` (candidates first) at the positions ``at`` on its candidate axis."""
    if np.ndim(a) and all(d == 1 for d in np.shape(a)[1:]):  # the same candidates for every row
        return np.asarray(a).reshape(-1)[at]
    return np.take_along_axis(np.broadcast_to(a, full), at, 0)


def _arrays(record: Any) -> dict[str, np.ndarray]:
    """The fields of a record that are arrays (the others are numbers)."""
    return {f.name: v for f in fields(record) for v in (getattr(record, f.name),) if ndim(v)}


def _rows_of(record: Any, arrays: dict, rows: np.ndarray, shape: tuple) -> Any:
    """The record at the flat row numbers ``rows`` of ``shape``, its ``arrays`` (:func:`_arrays`)
    gathered, its numbers as they are."""
    return replace(record, **{k: np.broadcast_to(v, shape).reshape(-1)[rows] for k, v in arrays.items()})


def undominated(m: TrainingModel, cal: TrainingCalibration, pp: np.ndarray, fits: np.ndarray) -> np.ndarray:
    """``fits`` (the shortlist's (tp, ZeRO stage) pairs, ZeRO-1 before ZeRO-3 at each tp) less
    the ZeRO-3 layouts that cannot be faster than the ZeRO-1 layout beside them.

    At the same tp and pipeline stages the two differ in the step model only in the data-
    parallel traffic: ZeRO-3 moves three passes of the parameters where ZeRO-1 moves two
    (:func:`costmodel.steptime.step_terms`; the optimizer term divides by the data-parallel
    degree for any stage from 1). The ZeRO-3 seconds are then never fewer, in floating point
    too, where nothing else is added to that traffic (a dense model: no expert all-to-alls)
    and ``dp_overlap`` is in [0, 0.999999] or 1: the traffic ``x`` is then at least 1.499
    times ZeRO-1's (or both 0), its exposed part ``x - fl(dp_overlap x)`` grows with it by far
    more than its rounding, and every later operation (``+``, ``max``, ``x`` the stretch of at
    least 1) is monotone. ZeRO-1 comes first, so a tie goes to it as well: the choice is the same."""
    d = cal.dp_overlap
    if not (np.ndim(d) == 0 and (0.0 <= d <= 0.999999 or d == 1.0)):
        return fits
    dense = np.logical_not(m.experts > 0)  # as ``moe`` in :func:`layout_terms`: NaN experts count as dense
    pairs = fits.reshape((len(_TP_C), len(_ZERO_C)) + fits.shape[1:])
    stages = np.broadcast_to(pp, fits.shape).reshape(pairs.shape)
    beaten = pairs[:, 0] & (stages[:, 0] == stages[:, 1]) & dense
    return np.stack([pairs[:, 0], pairs[:, 1] & ~beaten], axis=1).reshape(fits.shape)


def _fastest(m: TrainingModel, h: TrainingHardware, lay: TrainingLayout, cal: TrainingCalibration,
             hw_flops: FloatArray, tp: np.ndarray, pp: np.ndarray, zero: np.ndarray, has: np.ndarray) -> np.ndarray:
    """Per row, the position of the fastest of the shortlisted candidates that fit (one past
    the last where none does, or none has a finite time). Only those that fit are timed: they are
    gathered into one flat run of (candidate, row) pairs, each the same IEEE operations on the
    same numbers as on the full candidate axis, so the times, and the choice, are the same."""
    timed = len(has)
    records = (m, h, lay)
    arrays = [_arrays(r) for r in records]
    shape = np.broadcast_shapes(has.shape[1:], np.shape(hw_flops), *(v.shape for a in arrays for v in a.values()))
    flat = np.flatnonzero(undominated(m, cal, pp, np.broadcast_to(has, (timed,) + shape)))
    rows = flat % math.prod(shape)
    mk, hk, lk = (_rows_of(r, a, rows, shape) for r, a in zip(records, arrays))
    hw = hw_flops if ndim(hw_flops) == 0 else np.broadcast_to(hw_flops, shape).reshape(-1)[rows]
    tpk, ppk, zk = (np.broadcast_to(a, (timed,) + shape).reshape(-1)[flat] for a in (tp, pp, zero))
    times = np.full(timed * math.prod(shape), np.inf)
    times[flat] = sum(combine_terms(layout_terms(mk, hk, lk, hw, tpk, ppk, zk)[0], lk, cal))
    score = times.reshape((timed,) + shape)
    return where(np.isinf(score).all(axis=0), timed, np.argmin(score, axis=0))


def _fastest_layout(m: TrainingModel, h: TrainingHardware, lay: TrainingLayout, cal: TrainingCalibration,
                    hw_flops: FloatArray, candidates: tuple, at: np.ndarray, has: np.ndarray, valid: np.ndarray,
                    total: FloatArray, full: tuple) -> dict[str, Any]:
    """The (tp, pp, ZeRO stage) :func:`search_layout` chooses, from the shortlist: the fastest
    that fits (:func:`_fastest`), the least-memory stand-in (:func:`_least`, found only at the
    rows that need it) where none does."""
    tp, pp, zero = (_gather(a, at, full) for a in candidates)
    i = _fastest(m, h, lay, cal, hw_flops, tp, pp, zero, has)
    lost = i == len(at)
    if ndim(i) == 0:
        chosen = _least(valid, total, full) if lost else at[i]
        return dict(zip(("tp", "pp", "zero"), _pick(chosen, *candidates)))
    chosen = np.array(_pick(where(lost, 0, i), at)[0])  # each row's position on the candidate axis
    if lost.any():
        where_lost = np.nonzero(lost)  # index arrays into i's shape, whose trailing axes are full[1:]'s
        lead = len(where_lost) - (len(full) - 1)
        rows = tuple(ix if size > 1 else np.zeros_like(ix) for ix, size in zip(where_lost[lead:], full[1:]))
        chosen[where_lost] = _least(valid, total, full, rows)
    return dict(zip(("tp", "pp", "zero"), (_gather(a, chosen[None], (len(a),) + chosen.shape)[0] for a in candidates)))


def _one_fastest(m: TrainingModel, h: TrainingHardware, lay: TrainingLayout, cal: TrainingCalibration,
                 hw_flops: FloatArray, candidates: tuple, at: np.ndarray, has: np.ndarray, valid: np.ndarray,
                 total: np.ndarray) -> dict[str, Any]:
    """:func:`search_layout`'s choice for one configuration, and its figures: each shortlisted
    candidate that fits (less those :func:`undominated` rules out) timed on plain floats, the
    same operations on the same numbers as the pass over the candidate axis (a few floats cost
    less than numpy's dispatch on a short array), and the same rule (:func:`fastest_of`), the
    least-memory candidate where none fits or none has a finite time."""
    def timed(k: int) -> tuple[float, dict[str, Any]]:
        figures = _one_layout(m, h, lay, cal, hw_flops, candidates, k)
        return figures["modelled"], figures

    picked = fastest_of(shortlisted(m, cal, candidates[1], at, has), timed)
    if picked is None:
        return _one_layout(m, h, lay, cal, hw_flops, candidates, int(_least(valid, total, total.shape)))
    return picked


def shortlisted(m: TrainingModel, cal: TrainingCalibration, pp: FloatArray, at: np.ndarray,
                has: np.ndarray) -> list[int]:
    """One configuration's shortlisted candidates (:func:`shortlist_layouts`' ``at`` and
    ``has``) that fit, less those :func:`undominated` rules out, as positions on the candidate
    axis in the shortlist's order."""
    fits = undominated(m, cal, np.asarray(pp)[at], has)
    return [int(at[j]) for j in np.flatnonzero(fits).tolist()]


def fastest_of(positions: list[int], timed: Any) -> Any:
    """What ``timed(k)`` gives with its time, ``(time, what)``, of the fastest of the candidates
    at ``positions``, by the rule of the pass over the candidate axis: the first of equals, a
    NaN time first of all (as ``argmin`` takes it); None where there is none, or none has a
    finite time."""
    best: tuple | None = None
    for k in positions:
        time, figures = timed(k)
        if best is None or time < best[0] or (time != time and best[0] == best[0]):
            best = (time, figures)
        if time != time:  # NaN: argmin's choice, whatever follows
            break
    return None if best is None or best[0] == math.inf else best[1]


def _one_layout(m: TrainingModel, h: TrainingHardware, lay: TrainingLayout, cal: TrainingCalibration,
                hw_flops: FloatArray, candidates: tuple, k: int) -> dict[str, Any]:
    """The figures of candidate ``k`` of one configuration (``candidates``: tp, pp, ZeRO stage
    and the four memory terms on the candidate axis), as :func:`search_layout` picks them."""
    tp, pp, zero, cw, cg, co, ca = (float(a[k]) for a in candidates)
    terms, ep, batch, wanted, vpp = layout_terms(m, h, lay, hw_flops, tp, pp, zero)
    return layout_figures(terms, lay, cal, (tp, pp, zero, ep, vpp, batch, wanted), (cw, cg, co, ca))


def layout_figures(terms: st.StepTerms, lay: TrainingLayout, cal: TrainingCalibration, degrees: tuple,
                   memory: tuple) -> dict[str, Any]:
    """One layout's figures as :func:`search_layout` gives them, from its step terms, its
    (tp, pp, ZeRO stage, ep, vpp, global batch, batch asked for) and its four memory terms."""
    return parts_figures(combine_terms(terms, lay, cal), degrees, memory)


def parts_figures(parts: tuple, degrees: tuple, memory: tuple) -> dict[str, Any]:
    """:func:`layout_figures` from the (local, communication, stretch) seconds of the terms."""
    local, comm, _ = parts
    figures = dict(zip(("tp", "pp", "zero", "ep", "vpp", "batch", "wanted"), degrees))
    figures.update(modelled=sum(parts), local=local, comm=comm)
    return {**figures, **dict(zip(("cw", "cg", "co", "ca"), memory))}


def search_layout(m: TrainingModel, h: TrainingHardware, lay: TrainingLayout, cal: TrainingCalibration,
            choice: np.ndarray | None, layout_only: bool = False) -> dict[str, Any]:
    """The layout (tensor, pipeline, ZeRO stage where not given, or ``choice``) chosen on a
    leading axis of candidates by the step-time model, and its figures (only ``tp``, ``pp``
    and ``zero`` with ``layout_only``)."""
    flops, teacher, hw_flops = work_flops(m, lay)
    if choice is None:
        rank = max(ndim(x) for x in (m.params, m.layers, m.tokens, h.peak, lay.n_gpus, lay.tp, lay.pp,
                                     lay.zero_stage, lay.micro_batch, lay.global_batch, lay.tuning))
        tp, pp, zero = candidates(lay, rank)
    else:  # chosen already (a sweep chooses once per distinct layout): one candidate, plain floats for one row
        tp, pp, zero = (float(c) if ndim(c) == 0 else np.asarray(c, dtype=float)[None] for c in choice)
    states, features, shape, (cw, cg, co, ca) = layout_memory(m, h, lay, tp, pp, zero)

    if choice is None:
        total = cw + cg + co + ca
        at, has, valid, full = shortlist_layouts(m, h, lay, tp, pp, zero, total)
        if len(full) == 1:  # one configuration: its shortlist timed a candidate at a time, on plain floats
            picked = _one_fastest(m, h, lay, cal, hw_flops, (tp, pp, zero, cw, cg, co, ca), at, has, valid, total)
            if layout_only:
                return {k: picked[k] for k in ("tp", "pp", "zero")}
            return {**picked, "flops": flops, "teacher": teacher, "hw_flops": hw_flops, "states": states,
                    "features": features, "shape": shape}
        if layout_only:
            return _fastest_layout(m, h, lay, cal, hw_flops, (tp, pp, zero), at, has, valid, total, full)
        at = np.concatenate([at, _least(valid, total, full)[None]])
        has = np.concatenate([has, np.zeros((1,) + full[1:], bool)])  # the stand-in: timed, never chosen on time
        tp, pp, zero, cw, cg, co, ca = (_gather(a, at, full) for a in (tp, pp, zero, cw, cg, co, ca))

    terms, ep, batch, wanted, vpp = layout_terms(m, h, lay, hw_flops, tp, pp, zero)
    parts = combine_terms(terms, lay, cal)
    modelled = sum(parts)
    i: Any
    if choice is None:
        score = where(has, modelled, np.inf)
        i = where(np.isinf(score).all(axis=0), len(has) - 1, np.argmin(score, axis=0))
    else:
        i = np.zeros(np.shape(modelled)[1:], dtype=np.intp) if ndim(modelled) > 1 else np.intp(0)
    keys = ("tp", "pp", "zero", "ep", "vpp", "batch", "wanted", "modelled", "local", "comm", "cw", "cg", "co", "ca")
    picked = dict(zip(keys, _pick(i, tp, pp, zero, ep, vpp, batch, wanted, modelled, parts[0], parts[1],
                                  cw, cg, co, ca)))
    return {**picked, "flops": flops, "teacher": teacher, "hw_flops": hw_flops, "states": states,
            "features": features, "shape": shape}


def choose_layout(model: TrainingModel, hardware: TrainingHardware, layout: TrainingLayout,
                  cal: TrainingCalibration) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The (tp, pp, ZeRO stage) :func:`evaluate` would choose, for :attr:`TrainingCase.choice`.
    The choice does not depend on the tokens (every term of the step time grows with them)."""
    s = search_layout(model, hardware, layout, cal, None, layout_only=True)
    return s["tp"], s["pp"], s["zero"]
