"""Drive every option of every CLI command with hostile values, in process, and check the rules.

    python scripts/fuzz_cli.py [--examples 10000] [--seed 0]

For each example a command is chosen, its required options get valid values, and one to three
of its options get values a hostile user might type (huge, tiny, NaN, arithmetic, wrong
units, odd separators, unicode, empty). The rules (``check``):

- no Python traceback, no "Internal error" and no Python warning on stderr;
- exit code 0, 1 or 2; an error is printed on stderr with nothing on stdout before it;
- exit 0 only with finite, well-formed output: ``--json`` is strict JSON (RFC 8259: no NaN
  or Infinity), and no table shows "nan" or "inf"; where ``-h``/``--help`` was read as the help
  flag (``--variants -h``), the usage text is the answer.

``tests/test_fuzz.py`` runs the same checks on a small derandomised sample in CI; this script
runs many more and prints the count of examples and failures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import click
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from costmodel.cli import main  # noqa: E402

# Values a hostile or careless user types into any option.
HOSTILE = [
    "", " ", "-1", "0", "1", "nan", "NaN", "inf", "-inf", "1e999", "1e308", "1e-300", "1e19", "1e40", "9" * 40,
    "1" + "0" * 400, "10**400", "9**9**9", "9**9**9 USD/h", "2*3 W", "7,5B", "7,500,000,000", "7_500_000_000",
    "7.5B", "1.7T", "80 GB", "80 GiB", "$2.10/h", "$0", "$-1/h", "3.35 TB/s", "700 W", "400 J", "1 TFLOPS",
    "0.385 kg/kWh", "1e24 FLOP", "$10M", "500000 GPU*h", "5 GWh", "1..4", "1..1e15x2", "1..0", "8,64,512",
    "h100", "H100", "a100,h100", "zzz", "gpt2", "resnet-50", "bf16", "fp8", "int4", "fp12", "none", "full",
    "owned", "cloud", "continuous", "static", "--json", "-h", "ü", "∞", "１２", "\x00", "a" * 300, "0.5", "2",
    "1e-4", "64", "4096", "1k", "1M", "us", "france", "lora", "qlora",
]
# Valid values for required options and arguments, by parameter name.
VALID = {"hardware": "h100", "n_gpus": "8", "model": "llama-2-7b", "model_id": "llama-2-7b",
         "hardware_id": "h100", "budget": "1e22 FLOP", "x": "n_gpus", "y": "wall_time_days"}
JSON_CONSTANTS = {"NaN", "Infinity", "-Infinity"}
NON_FINITE = re.compile(r"(?<![\w.])(nan|-?inf|-?infinity)(?![\w])", re.IGNORECASE)


def commands(group: click.Group = main, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every leaf command, with the words that invoke it."""
    ctx = click.Context(group)
    out = []
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            out += commands(cmd, (*prefix, name))
        elif cmd is not None:
            out.append(((*prefix, name), cmd))
    return out


def _sweep_csv(folder: Path) -> str:
    path = folder / "sweep.csv"
    if not path.exists():
        path.write_text("model,hardware,n_gpus,wall_time_days\nllama-2-7b,h100,8,1.5\nllama-2-7b,h100,64,0.2\n")
    return str(path)


def base_args(words: tuple[str, ...], cmd: click.Command, folder: Path) -> list[str]:
    """The command with valid values for what it requires."""
    args = list(words)
    for param in cmd.params:
        if not (param.required or (isinstance(param, click.Argument) and param.name in VALID)):
            continue
        if param.name == "out":
            value = str(folder / "out.png")
        elif param.name == "table":
            value = _sweep_csv(folder)
        else:
            value = VALID.get(param.name or "", "1")
        args += [value] if isinstance(param, click.Argument) else [param.opts[0], value]
    return args


def options(cmd: click.Command) -> list[click.Option]:
    """The options a fuzzer may set (help and version are left alone)."""
    return [p for p in cmd.params if isinstance(p, click.Option) and p.name not in ("help", "version")]


EXIT_CODES: dict[int, int] = {}  # how many runs ended with each exit code


WARNING = re.compile(r"\w*Warning: .*")


def check(args: list[str]) -> str | None:
    """None if the run keeps every rule, else what went wrong."""
    result = CliRunner().invoke(main, args, catch_exceptions=True)
    EXIT_CODES[result.exit_code] = EXIT_CODES.get(result.exit_code, 0) + 1
    out, err = result.stdout, result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return f"uncaught {type(result.exception).__name__}: {result.exception}"
    if "Traceback" in out + err or "Internal error" in out + err:
        return f"internal error: {err.strip()[:300]}"
    if WARNING.search(err):  # a library's warning leaking to the terminal, on success or before an error
        return f"a warning on stderr: {WARNING.search(err).group(0)[:200]}"
    if result.exit_code not in (0, 1, 2):
        return f"exit code {result.exit_code}"
    if result.exit_code != 0:
        if out.strip():
            return f"stdout before an error: {out.strip()[:200]!r}"
        if not err.strip():
            return "an error with no message"
        return None
    if out.startswith("Usage: ") and {"-h", "--help"} & set(args):  # help asked for (``--variants -h``): it wins
        return None
    if "--json" in args:
        try:
            json.loads(out, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
        except ValueError as exc:
            return f"not strict JSON: {exc}"
    elif "--csv" not in args and NON_FINITE.search(out):
        return f"a non-finite number in the output: {NON_FINITE.search(out).group(0)!r}"
    return None


def example(rng: random.Random, folder: Path) -> list[str]:
    words, cmd = rng.choice(commands())
    args = base_args(words, cmd, folder)
    opts = options(cmd)
    for option in rng.sample(opts, k=min(len(opts), rng.randint(1, 3))):
        flag = next((o for o in option.opts if o.startswith("--")), option.opts[0])
        args += [flag] if option.is_flag else [flag, rng.choice(HOSTILE)]
    return args


def main_(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    failures: dict[str, list[str]] = {}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # files the commands are told to write land here
        for _ in range(args.examples):
            run = example(rng, Path(tmp))
            why = check(run)
            if why is not None:
                failures.setdefault(why.split(":")[0], []).append(f"{' '.join(run)}  ->  {why}")
    total = sum(len(v) for v in failures.values())
    print(f"{args.examples:,} examples in {time.perf_counter() - start:.0f} s: {total} failures; exit codes "
          + ", ".join(f"{code}: {n:,}" for code, n in sorted(EXIT_CODES.items())))
    for kind, runs in failures.items():
        print(f"  {kind}: {len(runs)}, e.g. {runs[0]}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main_())
