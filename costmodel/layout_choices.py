"""Layout choices kept for later estimates of one configuration.

:func:`search_layout` is most of a new estimate's time. Two kinds of later estimate need not run
it again: one whose inputs the choice depends on are those of an earlier one (the tokens, price,
region or power differ: :func:`remembered_choice`), and one that differs from an earlier one
only in its global batch (:class:`BatchSearch`: the memory of every candidate and its shortlist
do not depend on the batch, and the step terms depend on it in two known ways).
"""

from __future__ import annotations

import bisect
import math
from typing import Any

import numpy as np

from . import steptime as st
from .calibration import TrainingCalibration
from .elementwise import maximum
from .layout import TrainingLayout
from .layout_search import (TrainingHardware, batch_free_degrees, batch_free_terms, candidates, combine_terms,
                            fastest_of, layout_memory, parts_figures, shortlist_layouts, shortlisted, wanted_batch,
                            work_flops)
from .memo import memoise
from .units import FloatArray
from .workload import TrainingModel

__all__ = ["remembered_choice", "remember_choice", "choice_array", "BatchSearch"]

_CHOICES: dict[tuple, np.ndarray] = {}
_CHOICES_MAX = 4096
# the choice does not depend on these (every term of the step time grows with the work; MFU comes after)
_CHOICE_FREE = frozenset({"tokens", "samples", "mfu"})


@memoise  # records are frozen and themselves cached per distinct input: one key per record
def _key(record: Any) -> tuple:
    return tuple("nan" if math.isnan(v) else v for f in record.__slots__ if f not in _CHOICE_FREE
                 for v in (float(getattr(record, f)),))


def remembered_choice(m: TrainingModel, h: TrainingHardware, lay: TrainingLayout,
                      cal: TrainingCalibration) -> tuple[tuple, np.ndarray | None]:
    """The layout an earlier estimate with the same inputs the choice depends on chose (None
    the first time), and the key to :func:`remember_choice` it under: an estimate that differs
    only in tokens, price, region or power reuses it."""
    key = (_key(m), _key(h), _key(lay), cal)
    return key, _CHOICES.get(key)


def remember_choice(key: tuple, tp: FloatArray, pp: FloatArray, zero: FloatArray) -> np.ndarray:
    """Remember the layout one estimate chose (see :func:`remembered_choice`), and return it."""
    if len(_CHOICES) >= _CHOICES_MAX:
        _CHOICES.clear()
    choice = _CHOICES[key] = choice_array(tp, pp, zero)
    return choice


def choice_array(tp: FloatArray, pp: FloatArray, zero: FloatArray) -> np.ndarray:
    """One configuration's chosen (tp, pp, ZeRO stage), read-only, as :attr:`TrainingCase.choice` holds it."""
    choice = np.array([float(tp), float(pp), float(zero)])
    choice.flags.writeable = False
    return choice


class BatchSearch:
    """The layout search of one configuration (floats) kept for other global batches.

    Built from an estimate's model, hardware and layout: every candidate's memory and its
    data-parallel feed (one micro-batch per rank), and, once a candidate is first timed, its
    step terms less those of the batch (:func:`costmodel.steptime.batch_free_terms`). None of
    these depends on the batch: the memory does not, the shortlist only through which
    candidates' feeds are within the batch asked for (so it is kept per number of feeds within
    it), and the step terms only through the optimizer steps and the pipeline bubble
    (:func:`costmodel.steptime.with_batch`). :meth:`choose` then runs :func:`search_layout`'s
    scalar search on them: the same operations on the same numbers, the same choice and figures."""

    __slots__ = ("_m", "_h", "_hw_flops", "_candidates", "_total", "_feeds", "_shortlists", "_kept")

    def __init__(self, m: TrainingModel, h: TrainingHardware, lay: TrainingLayout):
        self._m, self._h = m, h
        self._hw_flops = work_flops(m, lay)[2]
        tp, pp, zero = candidates(lay, 0)
        memory = layout_memory(m, h, lay, tp, pp, zero)[3]
        self._candidates = (tp, pp, zero, *memory)
        self._total = memory[0] + memory[1] + memory[2] + memory[3]
        least = batch_free_degrees(m, lay, tp, pp)[2]
        self._feeds = sorted(set(np.broadcast_to(least, np.shape(tp)).tolist()))
        self._shortlists: dict[int, list[int]] = {}
        self._kept: dict[int, tuple] = {}

    def choose(self, lay: TrainingLayout, cal: TrainingCalibration) -> dict[str, Any] | None:
        """:func:`search_layout`'s figures for ``lay`` (the configuration's layout with another
        global batch), or None where no shortlisted candidate fits or none has a finite time
        (the search then takes the least-memory one)."""
        m = self._m
        wanted = wanted_batch(m, lay)
        asked = wanted * (1.0 + 1e-9)  # as shortlist_layouts compares the feeds with it
        if not asked == asked:
            return None
        count = bisect.bisect_right(self._feeds, asked)
        shortlist = self._shortlists.get(count)
        if shortlist is None:
            tp, pp, zero = self._candidates[:3]
            at, has, _, _ = shortlist_layouts(m, self._h, lay, tp, pp, zero, self._total)
            shortlist = self._shortlists[count] = shortlisted(m, cal, pp, at, has)
        picked = fastest_of(shortlist, lambda k: self._time(k, wanted, lay, cal))
        if picked is None:
            return None
        k, parts, batch = picked
        _, degrees, _, memory = self._kept[k]
        return parts_figures(parts, (*degrees, batch, wanted), memory)

    def _time(self, k: int, wanted: FloatArray, lay: TrainingLayout, cal: TrainingCalibration) -> tuple:
        """Candidate ``k``'s modelled seconds at the batch asked for, ``wanted``, with ``k``,
        its (local, communication, stretch) seconds and its global batch, by the operations of
        :func:`costmodel.layout_search._one_layout`."""
        kept = self._kept.get(k)
        if kept is None:
            tp, pp, zero, *memory = (float(a[k]) for a in self._candidates)
            ep, vpp, least = batch_free_degrees(self._m, lay, tp, pp)
            free = batch_free_terms(self._m, self._h, lay, self._hw_flops, tp, pp, zero, ep, vpp)
            kept = self._kept[k] = (free, (tp, pp, zero, ep, vpp), least, tuple(memory))
        free, degrees, least, memory = kept
        batch = maximum(wanted, least)
        parts = combine_terms(st.with_batch(free, batch), lay, cal)
        return sum(parts), (k, parts, batch)
