"""Serving inputs: the request's options parsed and checked, once per distinct value.

Devices, batch, tokens in and out, batching mode, prefix cache, pipeline, tensor and expert
degrees (:data:`REQUEST_PARSERS`, shared with the sweep) become a :class:`~costmodel.inference.Request`
of floats; the per-step token budget, sampled request lengths under traffic, and the checks of a
layout against the devices and the model (:func:`check_request`, :func:`check_layout`). Each
refusal names its argument (:class:`costmodel.errors.InputError`). The limits are bounds on
what an input may be, not measured figures.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Callable

import numpy as np
import pint

from .elementwise import any_true, fmod, maximum
from .errors import InputError
from .inference import Request, ServingModel
from .memo import memoise
from .serving_load import Load
from .units import CountLike, parse_whole

__all__ = ["BATCHING", "TOKENS_LIMIT", "BUDGET_LIMIT", "LENGTH_SAMPLES", "CACHE_MAX", "REQUEST_PARSERS",
           "parse_batching", "parse_token_budget", "parse_prefix_cache", "parse_share", "check_request", "request_of",
           "resolve_request", "prompt_length", "lengths", "mean_length", "traffic_inputs", "check_layout",
           "layout_warnings"]

BATCHING = ("static", "continuous")


def parse_batching(value: str) -> float:
    if value not in BATCHING:
        raise InputError(f"expected 'static' or 'continuous', got {value!r}", argument="batching")
    return float(value == "continuous")


TOKENS_LIMIT = 1e9  # tokens in or out of one request: a thousand times the longest context windows
# keyword -> (record field, parser of one value, default); shared with the sweep
REQUEST_PARSERS: dict[str, tuple[str, Callable[[Any], float], Any]] = {
    "n_gpus": ("n", lambda v: float(parse_whole(v, "n_gpus", limit=1e6)), 1),
    "batch_size": ("batch", lambda v: float(parse_whole(v, "batch_size", limit=1e7)), 1),
    "prompt_tokens": ("prompt", lambda v: float(parse_whole(v, "prompt_tokens", limit=TOKENS_LIMIT, allow_zero=True)),
                      None),
    "output_tokens": ("output", lambda v: float(parse_whole(v, "output_tokens", limit=TOKENS_LIMIT, allow_zero=True)),
                      None),
    "batching": ("continuous", parse_batching, "continuous"),
    "prefix_cache": ("cached", lambda v: parse_share(v, "prefix_cache"), 0.0),
    "pp": ("pp", lambda v: float(parse_whole(v, "pp", limit=1024)), 1),
    "tp": ("tp", lambda v: 0.0 if v is None else float(parse_whole(v, "tp", limit=1e6)), None),
    "ep": ("ep", lambda v: float(parse_whole(v, "ep", limit=1e6)), 1),
}


BUDGET_LIMIT = 1e9  # tokens per forward step: far above any runtime's (vLLM's offline default is 16,384)


def parse_token_budget(value: Any) -> float:
    """``max_batched_tokens``: a whole number of tokens per step from 1, such as 8192 or
    "8192 token" (also the CLI's option type)."""
    if isinstance(value, bool):
        raise InputError(f"expected a whole number of tokens per step such as 8192, got {value!r}",
                         argument="max_batched_tokens")
    return float(parse_whole(value, "max_batched_tokens", limit=BUDGET_LIMIT))


def parse_prefix_cache(value: Any) -> float:
    """``prefix_cache`` as :func:`parse_share` reads it (for the CLI's option type)."""
    return parse_share(value, "prefix_cache")


def parse_share(value: Any, argument: str) -> float:
    """A share in [0, 1): a float, or a percentage string such as "40%"."""
    text = value.strip() if isinstance(value, str) else None
    try:
        x = float(text[:-1]) / 100.0 if text and text.endswith("%") else float(value)
    except (TypeError, ValueError):
        raise InputError(f"expected a share between 0 and 1 such as 0.4 or '40%', got {value!r}",
                         argument=argument) from None
    if not 0.0 <= x < 1.0 or isinstance(value, bool):
        raise InputError(f"expected a share from 0 up to (not including) 1, got {value!r}", argument=argument)
    return x


def check_request(r: Request) -> Request:
    """Refuse a request with no token in or out (floats or arrays), or a layout whose degrees
    do not divide the devices, and split ``n`` (the devices of a replica, as given) into ``pp``
    stages of ``n / pp`` devices."""
    if any_true(r.prompt + r.output < 1):
        raise InputError("a request needs at least one token in or out", argument="prompt_tokens")
    if any_true(r.n % r.pp):
        raise InputError("n_gpus must be a multiple of pp (pp stages of n_gpus / pp devices each)", argument="pp")
    for key in ("tp", "ep"):
        degree = getattr(r, key)
        if any_true((degree > 0) & ((r.n / r.pp) % maximum(degree, 1.0) != 0)):
            raise InputError(f"{key} must divide the devices of a pipeline stage (n_gpus / pp)", argument=key)
    return replace(r, n=r.n / r.pp) if any_true(r.pp > 1) else r


def request_of(**options: Any) -> Request:
    """Devices, batch, tokens and batching mode (see :data:`REQUEST_PARSERS`) as floats, each
    plain option parsed once per process."""
    return check_request(Request(**{name: _parsed(key, parse, options.get(key, default))
                                    for key, (name, parse, default) in REQUEST_PARSERS.items()}))


resolve_request = memoise(request_of)
resolve_request.__doc__ = """:func:`request_of`, cached per distinct options."""


def _parsed(key: str, parse: Callable[[Any], float], value: Any) -> float:
    """``parse(value)``, kept per keyword and plain value (by value and type, a float by its
    bits): a request that changes one option parses only that one."""
    kind = type(value)
    if kind is float:
        held = (key, kind, value.hex())
    elif kind in _PLAIN:
        held = (key, kind, value)
    else:
        return parse(value)
    x = _PARSED.get(held)
    if x is None:
        x = parse(value)
        if len(_PARSED) >= CACHE_MAX:
            _PARSED.clear()
        _PARSED[held] = x
    return x


_PARSED: dict[tuple, float] = {}  # (keyword, type, value) -> its parsed float
_PLAIN = frozenset({str, int, bool, type(None)})  # the types of value _parsed keeps
CACHE_MAX = 4096  # entries a per-value cache of the serving inputs holds before it starts afresh


def prompt_length(prompt: CountLike) -> float:
    """One prompt length as an estimate reads it into the request (:mod:`costmodel.serving_case`)."""
    return _parsed("prompt_tokens", REQUEST_PARSERS["prompt_tokens"][1],
                   round(mean_length(lengths(prompt, "prompt_tokens", False))))


LENGTH_SAMPLES = 100_000  # sampled request lengths: more is a data file, not an argument


def lengths(value: Any, name: str, traffic: bool) -> np.ndarray:
    """Token counts per request: one number, or (under traffic) a sequence of sampled lengths."""
    if isinstance(value, (str, bytes, int, float)) or not hasattr(value, "__len__") or isinstance(value, pint.Quantity):
        return np.array([float(parse_whole(value, name, limit=TOKENS_LIMIT, allow_zero=True))])
    if isinstance(value, (set, frozenset, dict)):
        raise InputError("expected a list or array of sampled lengths (a set drops repeated lengths)", argument=name)
    if not traffic:
        raise InputError("a sequence of lengths describes traffic; give rate= or concurrency= with it, or one number",
                         argument=name)
    if not 0 < len(value) <= LENGTH_SAMPLES:
        raise InputError(f"expected 1 to {LENGTH_SAMPLES:,} sampled lengths, got {len(value):,}", argument=name)
    return np.array([float(parse_whole(v, name, limit=TOKENS_LIMIT, allow_zero=True)) for v in value])


def traffic_inputs(traffic: tuple[float, float], batch_size: CountLike | None, prompts: np.ndarray, outputs: np.ndarray) -> Load:
    rate, concurrency = traffic
    limit = math.inf if batch_size is None else float(parse_whole(batch_size, "batch_size", limit=1e7))
    spread = lambda x: float(np.mean(x ** 2) / np.mean(x) ** 2) if np.mean(x) > 0 else 1.0  # noqa: E731
    return Load(rate=rate, concurrency=concurrency, limit=limit, prompt_spread=spread(prompts),
                output_spread=spread(outputs))


def mean_length(lengths: np.ndarray) -> float:
    return float(lengths[0]) if lengths.size == 1 else float(np.mean(lengths))  # one length: itself


def check_layout(m: ServingModel, r: Request) -> None:
    """Refuse an expert or attention layout the model cannot take (floats or arrays): ``ep``
    that does not divide a mixture's experts, or data-parallel attention (``tp`` below the
    devices of a stage) for a model without experts."""
    bad = (m.experts > 0) & (fmod(m.experts, maximum(r.ep, 1.0)) != 0)
    if any_true(bad):
        ep, experts = (float(np.broadcast_to(x, np.shape(bad))[bad][0]) if np.ndim(bad) else float(x)
                       for x in (r.ep, m.experts))
        raise InputError(f"ep={ep:.0f} does not divide the model's {experts:.0f} experts", argument="ep")
    if any_true((m.experts <= 0) & (r.tp > 0) & (r.tp < r.n)):
        raise InputError("tp below the devices of a pipeline stage is data-parallel attention, for a mixture of "
                         "experts; serve copies of a dense model as replicas", argument="tp")


def layout_warnings(m: ServingModel, r: Request) -> list[str]:
    """Refuse a layout the model cannot take; say when ``ep`` does nothing (as
    :func:`costmodel.estimate_training` does)."""
    check_layout(m, r)
    if not m.experts and r.ep > 1:
        return [f"ep={r.ep:.0f} has no effect: the model has no experts (a dense model, or experts the catalog "
                "does not list)"]
    return []
