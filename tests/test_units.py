"""The unit registry and input parsing."""

import math

import numpy as np
import pint
import pytest

import costmodel
from costmodel.units import parse_count, parse_quantity, ureg

Q = ureg.Quantity


@pytest.mark.parametrize("text, expected", [
    (7e9, 7e9), (7_000_000_000, 7e9), ("7B", 7e9), ("7 billion", 7e9), ("1.7T", 1.7e12),
    ("350M", 3.5e8), ("300B tokens", 3e11), ("7e9", 7e9), ("1,000", 1e3), ("2", 2.0),
    ("66M params", 6.6e7), (np.int64(5), 5.0), (Q(3, "token"), 3.0), (Q(4, "dimensionless"), 4.0),
])
def test_counts_parse(text, expected):
    assert parse_count(text) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("bad, message", [
    ("seven", "expected a count"), ("", "expected a count"), (-5, "more than zero"),
    (0, "more than zero"), (math.nan, "finite"), (math.inf, "finite"), ("80 GB", "expected a count"),
    (Q(3, "GB"), "units of GB"), (True, "expected a count"), (None, "expected a count"),
])
def test_bad_counts_name_the_argument(bad, message):
    with pytest.raises(costmodel.UnitError, match=f"^tokens: .*{message}"):
        parse_count(bad, "tokens")


@pytest.mark.parametrize("text, kind, expected", [
    ("989 TFLOP/s", "flop_rate", 989e12), ("3.14e23 FLOP", "flop", 3.14e23),
    ("1 PFLOP/s*day", "flop", 1e15 * 86400), ("3.35 TB/s", "bandwidth", 3.35e12),
    ("80 GiB", "byte", 80 * 2**30), ("80 GB", "byte", 80e9), ("$2.10/h", "usd_rate", 2.10),
    ("2.10 USD/hour", "usd_rate", 2.10), ("$10M", "usd", 1e7), ("700 W", "power", 700.0),
    ("0.7 kW", "power", 700.0), ("0.385 kg/kWh", "intensity", 385.0), ("385 gCO2e/kWh", "intensity", 385.0),
    ("173 tCO2e", "co2e", 173e6), ("450 MWh", "energy", 450e6 * 3600), (2.5, "usd_rate", 2.5),
    (Q(1, "TB/s"), "bandwidth", 1e12),
])
def test_quantities_parse_to_canonical_floats(text, kind, expected):
    assert parse_quantity(text, kind) == pytest.approx(expected, rel=1e-12)


def test_gb_and_gib_are_distinct():
    assert Q("80 GiB").to("GB").magnitude == pytest.approx(85.899345920)


def test_information_has_its_own_dimension():
    # stock pint's bit is dimensionless, so "80 GB" + 3 would silently succeed
    with pytest.raises(pint.DimensionalityError):
        Q("80 GB") + 3
    assert str(Q("1 GB").dimensionality) == "[information]"


def test_tflops_is_refused_with_a_suggestion():
    with pytest.raises(costmodel.UnitError, match=r"peak: .*TFLOPS is ambiguous; write TFLOP/s"):
        parse_quantity("989 TFLOPS", "flop_rate", "peak")


@pytest.mark.parametrize("text, kind, message", [
    ("80 GB", "flop_rate", "units of GB"), ("3.35 TB/s", "byte", "units of TB / s"),
    ("700 W", "energy", "units of W"), ("lots", "power", "could not read"), ("", "power", "empty"),
    ("-5 W", "power", "more than zero"), ("1e999 W", "power", "finite"),
])
def test_wrong_dimension_names_argument_and_expectation(text, kind, message):
    with pytest.raises(costmodel.UnitError, match=f"^arg: expected .*{message}"):
        parse_quantity(text, kind, "arg")


def test_one_registry_is_exported():
    assert costmodel.ureg is ureg
    assert costmodel.get_hardware("h100").memory._REGISTRY is ureg


def test_arrays_parse_elementwise():
    out = parse_count(np.array([1, 2, 3]), "tokens")
    assert out.dtype == np.float64 and list(out) == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("text, expected", [
    ("$2.10/h", Q(2.10, "USD/h")), ("$10M", Q(1e7, "USD")), ("$ 1,000", Q(1000, "USD")),
    ("$0.08/kWh", Q(0.08, "USD/kWh")), ("$5bn", Q(5e9, "USD")), ("$1.5e3k", Q(1.5e6, "USD")),
])
def test_dollars_parse_on_the_registry_itself(text, expected):
    # `$` is the registry's preprocessor, not a substitution inside costmodel's parser.
    parsed = ureg.parse_expression(text)
    assert parsed.units == expected.units and parsed.magnitude == pytest.approx(expected.magnitude, rel=1e-12)
    assert Q(text) == parsed


_APP_REGISTRY_CHECK = """
import pickle, pint
before = pint.get_application_registry().get()
import costmodel
est = costmodel.estimate_training("llama-2-7b", hardware="h100", n_gpus=64)
flops = est.flops + costmodel.Quantity("1 FLOP")
assert pint.get_application_registry().get() is before, "costmodel replaced the application registry"
assert pint.Quantity("3 inch").to("cm").magnitude == 7.62
assert pint.Quantity("3 inch")._REGISTRY is not costmodel.ureg
theirs = pint.UnitRegistry()
assert theirs.Quantity("2 lbf").to("N").magnitude > 8.89
# costmodel's Quantities still pickle, and come back into costmodel's registry
back = pickle.loads(pickle.dumps(flops))
assert back._REGISTRY is costmodel.ureg and back == flops
assert pickle.loads(pickle.dumps(flops.units)) == flops.units
print("ok")
"""


def test_import_leaves_pints_application_registry_alone():
    # A subprocess: other tests in this one have long since imported costmodel.
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _APP_REGISTRY_CHECK], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr


def test_quantities_from_another_registry_are_read_by_unit_name():
    theirs = pint.UnitRegistry()
    assert parse_quantity(theirs.Quantity(3, "TB/s"), "bandwidth") == pytest.approx(3e12, rel=1e-12)
    assert parse_quantity(pint.Quantity(2, "kg/kWh"), "intensity") == pytest.approx(2000.0, rel=1e-12)
    assert parse_count(theirs.Quantity(5, "dimensionless")) == 5.0
    with pytest.raises(costmodel.UnitError, match="^memory: .*costmodel's registry has no unit 'inch'"):
        parse_quantity(theirs.Quantity(3, "inch"), "byte", "memory")
