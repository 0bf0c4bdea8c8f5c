"""Any input to the CLI ends in exit code 0, 1 or 2 with no Python traceback."""

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as hs

from costmodel.cli import main

junk = hs.one_of(
    hs.text(min_size=0, max_size=12),
    hs.sampled_from(["-1", "0", "nan", "inf", "1e999", "7B", "80 GB", "$2/h", "3.35 TB/s", "", " ", "1..4",
                     "h100", "gpt2", "bf16", "fp8", "int4", "--json", "1e-300", "9" * 40]),
    hs.integers(min_value=-10, max_value=10**12).map(str),
    hs.floats(allow_nan=True, allow_infinity=True).map(repr),
)

TRAIN_OPTIONS = ["--params", "--tokens", "--gpus", "--mfu", "--dtype", "--seq-len", "--micro-batch", "--tp",
                 "--pp", "--region", "--pue", "--power", "--price", "--grid-intensity", "--host-power"]
INFER_OPTIONS = ["--params", "--gpus", "--prompt", "--output", "--batch", "--dtype", "--kv-dtype", "--region",
                 "--pue", "--price", "--power"]


def _check(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, result.output)
    assert "Traceback" not in result.output, (args, result.output)
    assert "Internal error" not in result.output, (args, result.output)  # a bug, not bad input
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{args}: uncaught {result.exception!r}")


@settings(max_examples=60, deadline=None, derandomize=True)
@given(hs.sampled_from(["gpt2", "llama-2-7b", "gpt3-175b", "nope"]), hs.sampled_from(["h100", "v100", "t4", "zzz"]),
       hs.lists(hs.tuples(hs.sampled_from(TRAIN_OPTIONS), junk), max_size=3))
def test_train_never_crashes(model, hardware, options):
    args = ["train", model, "--hardware", hardware, "--gpus", "8", "--tokens", "1B"]
    for option, value in options:
        args += [option, value]
    _check(args)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(hs.sampled_from(["llama-2-7b", "mixtral-8x7b", "bert-base", "resnet-50", "nope"]),
       hs.sampled_from(["a100", "l4", "jetson-agx-orin-64gb", "epyc-9654", "zzz"]),
       hs.lists(hs.tuples(hs.sampled_from(INFER_OPTIONS), junk), max_size=3))
def test_infer_never_crashes(model, hardware, options):
    args = ["infer", model, "--hardware", hardware]
    for option, value in options:
        args += [option, value]
    _check(args)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(hs.lists(junk, max_size=4))
def test_random_words_never_crash(words):
    _check(words)
