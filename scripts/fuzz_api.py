"""Call every public function of the library with hostile keyword values, and check the rules.

    python scripts/fuzz_api.py [--examples 10000] [--seed 0] [--slow]

For each example a function is chosen, its required arguments get valid values, and one to
three of its keywords get values a careless caller might pass (huge, tiny, NaN, the wrong kind:
a number for a name, a list or an array for one value, a Quantity of the wrong dimension, a
mapping, bytes). The rules (``check``):

- the call returns, or raises a :class:`costmodel.CostModelError` whose message is one line;
  any other exception (a ``TypeError`` from deep inside) breaks the rule;
- no Python warning (warnings are errors while a call runs): none may reach a user's terminal;
- no call runs longer than ``TIMEOUT`` seconds;
- what is returned is finite: ``to_dict()`` is strict JSON (no NaN or Infinity), a DataFrame
  holds no infinity.

The CLI has the same rules (``scripts/fuzz_cli.py``); ``tests/test_fuzz.py`` runs a small
derandomised sample of both in CI. ``--slow`` adds the planners that search many deployments
(``plan_serving``, ``plan_training``, ``compare_models``, ``compare_variants``), which take a
second or more a call. Files a call is told to write land in a scratch folder.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import costmodel  # noqa: E402
from costmodel.errors import CostModelError  # noqa: E402

TIMEOUT = 30  # seconds a call may take
_Q = costmodel.ureg.Quantity

# Values a careless caller passes to any keyword.
HOSTILE = [
    "", " ", "-1", "0", "1", "nan", "inf", "1e999", "1e308", "1e-300", "1e19", "9" * 40, "9**9**9", "7,5B", "7B",
    "175B", "2T", "80 GiB", "$2.10/h", "4M token", "1024 sequence", "1 s", "10 ms", "100 W", "1 kg", "5 GB", "h100",
    "fp8", "int4", "tuned", "selective", "full", "none", "lora", "continuous", "us", "ü", "\x00", "a" * 300,
    0, -1, 1, 2, 7, 8, 0.5, 1.5, 1e308, -1e308, 1e-300, math.nan, math.inf, -0.0, True, False, None, 10**30,
    2**63, [], [1], ["h100"], [1, 2], {}, {"a": 1}, (1, 2), b"h100", np.array([1, 2]), np.array(5.0),
    np.float64(3.0), np.int64(8), _Q(1, "s"), _Q(-1, "W"), _Q(math.nan, "GiB"), _Q(1e30, "TFLOP/s"),
    _Q(2, "USD/hour"), _Q(np.array([1.0, 2.0]), "s"), _Q(500, "g/kWh"),
]


def targets_of(slow: bool) -> dict:
    """name -> (function, valid arguments, the keywords a fuzzer may set)."""
    import inspect

    train = dict(params="7B", tokens="1T", hardware="h100", n_gpus=8)
    infer = dict(model="llama-2-7b", hardware="h100", prompt_tokens=128, output_tokens=16)
    fast = {
        "estimate_training": (costmodel.estimate_training, train),
        "estimate_inference": (costmodel.estimate_inference, infer),
        "sweep_training": (costmodel.sweep_training, dict(train, n_gpus=[8, 64])),
        "sweep_inference": (costmodel.sweep_inference, dict(infer, batch_size=[1, 8])),
        "predict_loss": (costmodel.predict_loss, dict(params="7B", tokens="1T")),
        "compute_optimal": (costmodel.compute_optimal, dict(budget="1e22 FLOP")),
        "compare_sizes": (costmodel.compare_sizes, dict(tokens="1T", sizes=["1B", "7B"])),
        "get_hardware": (costmodel.get_hardware, dict(name="h100")),
    }
    planners = {
        "plan_training": (costmodel.plan_training, dict(model="llama-2-7b", tokens="1T", hardware=["h100"])),
        "plan_serving": (costmodel.plan_serving, dict(model="llama-2-7b", hardware="h100", rate="1/s",
                                                      prompt_tokens=512, output_tokens=128)),
        "compare_models": (costmodel.compare_models, dict(models=["gpt2"])),
        "compare_variants": (costmodel.compare_variants, dict(model="gpt2-xl", variants=["w4a16"])),
    }
    chosen = {**fast, **(planners if slow else {})}
    out = {}
    for name, (fn, valid) in chosen.items():
        kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        keywords = [k for k, p in inspect.signature(fn).parameters.items() if p.kind in kinds and k != "name"]
        out[name] = (fn, valid, keywords)
    return out


def example(rng: random.Random, targets: dict) -> tuple[str, dict]:
    name = rng.choice(sorted(targets))
    _, valid, keywords = targets[name]
    kwargs = dict(valid)
    for key in rng.sample(keywords, k=min(len(keywords), rng.randint(1, 3))):
        kwargs[key] = rng.choice(HOSTILE)
    return name, kwargs


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang


def _finite(result) -> str | None:
    """What in a returned value is not finite, or None."""
    import pandas as pd

    if isinstance(result, pd.DataFrame):
        numbers = result.select_dtypes("number").to_numpy(dtype=float)
        return "infinity in the DataFrame" if np.isinf(numbers).any() else None
    if hasattr(result, "to_dict"):
        try:
            json.dumps(result.to_dict(), allow_nan=False, default=str)
        except ValueError as exc:
            return f"to_dict() is not strict JSON: {exc}"
    return None


def check(name: str, kwargs: dict, targets: dict) -> str | None:
    """None if the call keeps every rule, else what went wrong."""
    fn = targets[name][0]
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIMEOUT)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            result = fn(**kwargs)
            return _finite(result)
    except CostModelError as exc:
        return None if str(exc) and "\n" not in str(exc) else f"an error not in one line: {str(exc)[:200]!r}"
    except _Hang:
        return f"longer than {TIMEOUT} s"
    except Warning as exc:
        return f"a warning: {type(exc).__name__}: {str(exc)[:200]}"
    except Exception as exc:  # the rule this script exists for
        return f"uncaught {type(exc).__name__}: {str(exc)[:200]}"
    finally:
        signal.alarm(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--slow", action="store_true", help="add the planners that search many deployments")
    parser.add_argument("--all", action="store_true", help="list every distinct failure, not one of each kind")
    args = parser.parse_args(argv)
    rng, targets = random.Random(args.seed), targets_of(args.slow)
    failures: dict[str, list[str]] = {}
    start = time.perf_counter()
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # files a call is told to write (to_parquet=) land here
        try:
            for _ in range(args.examples):
                name, kwargs = example(rng, targets)
                why = check(name, kwargs, targets)
                if why is not None:
                    failures.setdefault(why.split(":")[0], []).append(f"{name}(**{kwargs!r})  ->  {why}")
        finally:
            os.chdir(here)
    total = sum(len(v) for v in failures.values())
    print(f"{args.examples:,} examples in {time.perf_counter() - start:.0f} s over {len(targets)} functions: "
          f"{total} failures")
    for kind, runs in failures.items():
        print(f"  {kind}: {len(runs)}, e.g. {runs[0][:600]}")
        if args.all:
            for run in sorted(set(r.split("(**")[0] + "  ->  " + r.split("  ->  ")[-1][:160] for r in runs)):
                print(f"    {run}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
