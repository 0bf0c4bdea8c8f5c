"""Tables for people: one number style, and times, sizes, energy, CO2e and money in the unit
that fits."""

import re

import pytest

import costmodel
from costmodel.cli import format as fmt
from costmodel.cli import main


@pytest.mark.parametrize("seconds, text", [
    (9.96e-05 * 86400, "8.61 s"),  # not '9.96e-05 days'
    (0.0213, "21.3 ms"),
    (59.99, "1 min"),  # rounds to 60 s: the next unit
    (90, "1.5 min"),
    (7200, "2 h"),
    (3 * 86400, "3 days"),
    (1234.5 * 86400, "1,234 days"),  # 3 significant figures, but never fewer than the integer digits
    (0, "0 s"),
    (None, "-"),
])
def test_duration_picks_the_unit_that_fits(seconds, text):
    assert fmt.duration(seconds) == text


def test_a_range_is_written_in_the_unit_of_its_typical_value():
    assert fmt.duration(64.2 * 86400, 42.6 * 86400, 78.8 * 86400) == "64.2 days (42.6-78.8)"
    assert fmt.duration(30, 20, 100) == "30 s (20-100)"
    assert fmt.duration(30, 30, 30) == "30 s"  # a point range is no range


@pytest.mark.parametrize("nbytes, text", [(512, "512 B"), (1e6, "977 KiB"), (2**20 * 1.5, "1.5 MiB"),
                                          (80 * 2**30, "80 GiB"), (1.5 * 2**40, "1.5 TiB"), (5 * 2**50, "5,120 TiB")])
def test_sizes_in_binary_units_up_to_tib(nbytes, text):
    assert fmt.size(nbytes) == text


@pytest.mark.parametrize("usd, text", [(0.004, "< $0.01"), (0.0099, "< $0.01"), (0.01, "$0.01"), (0, "$0"),
                                       (0.746, "$0.746"), (16.84, "$16.8"), (1908.6, "$1.91k"),
                                       (999_999.99, "$1M"), (4.6e6, "$4.6M"), (None, "-")])
def test_money_below_a_cent_and_large_sums(usd, text):
    assert fmt.money(usd) == text


def test_money_ranges_keep_the_dollar_sign():
    assert fmt.money(16.84, 11.2, 20.7) == "$16.8 ($11.2-$20.7)"
    assert fmt.money(0.012, 0.004, 0.02) == "$0.012 (< $0.01-$0.02)"
    assert fmt.money(0.004, 0.003, 0.005) == "< $0.01"


def test_energy_and_mass():
    assert fmt.energy(3.6e9) == "1 MWh"
    assert fmt.energy(6.05e6) == "1.68 kWh"
    assert fmt.energy(900) == "250 mWh"  # a phone request: milliwatt-hours
    assert fmt.energy(0.119) == "0.0331 mWh"
    assert fmt.mass(1.54e5) == "154 kg"
    assert fmt.mass(2.5e9) == "2,500 t"


def test_one_number_style():
    assert fmt.number(1.99e18) == "1.99e+18"
    assert fmt.number(2.1439, 5) == "2.1439"
    assert fmt.count(2_182_140) == "2.18M"
    assert fmt.count(999_999) == "1M"  # not '1,000k'
    assert fmt.plain(0.25, 0.2, 0.37) == "0.25 (0.2-0.37)"


def _ok(result):
    assert result.exit_code == 0, result.output
    return result.stdout


def _spans(est, *figures):
    """Each ``(attribute, unit)`` of ``est`` as (typical, low, high) floats."""
    return [[float(getattr(e, name).to(unit).magnitude) for e in (est, est.low, est.high)] for name, unit in figures]


def test_train_summary_in_human_units(runner):
    # GPT-2 on 1024 H100s: seconds, a few device-hours, kWh and kg, each in the unit that fits and
    # its range in the same unit; the figures are the library's own
    out = _ok(runner.invoke(main, ["train", "gpt2", "--tokens", "2.48B", "--hardware", "h100", "--gpus", "1024"]))
    lines = {line[2:15].strip(): line[15:] for line in out.splitlines() if line.startswith("  ") and ":" not in line}
    est = costmodel.estimate_training("gpt2", tokens="2.48B", hardware="h100", n_gpus=1024)
    wall, hours, energy, co2e, cost = _spans(est, ("wall_time", "s"), ("gpu_hours", "hour"), ("energy", "J"),
                                             ("co2e", "g"), ("cost", "USD"))
    assert lines["wall time"] == fmt.duration(*wall)
    assert re.fullmatch(r"\d+(\.\d+)? s \([\d.]+-[\d.]+\)", lines["wall time"])  # seconds, not 1.6e-04 days
    assert lines["GPU-hours"] == f"{fmt.plain(*hours, unit='h', how=fmt.count)}"
    assert lines["GPU-hours"].split()[1] == "h"
    m = est.memory
    assert lines["memory/GPU"] == (f"{fmt.size(est.memory_per_gpu.to('B').magnitude)} (weights "
                                   f"{fmt.size(m.weights.to('B').magnitude)}, gradients "
                                   f"{fmt.size(m.gradients.to('B').magnitude)}, optimizer "
                                   f"{fmt.size(m.optimizer.to('B').magnitude)}, activations "
                                   f"{fmt.size(m.activations.to('B').magnitude)})")
    # GPT-2's default batch (0.5M tokens, 488 sequences of 1,024) feeds at most 488 data-parallel
    # ranks, so the search splits the model 4 ways on 1,024 devices (tp x pp = 4); ZeRO-1 shards
    # only the optimizer: the 124M bf16 weights (2 B each, 237 MiB) are split 4 ways, 59.1 MiB, and
    # the fp32 master weights and Adam moments (12 B per parameter, 1.39 GiB) 1,024 ways: 1.39 MiB
    assert est.layout["zero_stage"] == 1 and est.layout["tp"] * est.layout["pp"] == 4
    assert lines["memory/GPU"].split("(")[1].startswith("weights 59.1 MiB, gradients 59.1 MiB, optimizer 1.39 MiB, ")
    assert lines["energy"] == f"{fmt.energy(*energy)} (PUE 1.1)" and " kWh (" in lines["energy"]
    assert lines["CO2e"] == fmt.mass(*co2e) and " kg (" in lines["CO2e"]
    assert lines["cost"] == f"{fmt.money(*cost)} (cloud)" and lines["cost"].count("$") == 3


def test_infer_summary_in_human_units(runner):
    out = _ok(runner.invoke(main, ["infer", "llama-2-7b", "--hardware", "h100"]))
    lines = {line[2:15].strip(): line[15:] for line in out.splitlines() if line.startswith("  ") and ":" not in line}
    est = costmodel.estimate_inference("llama-2-7b", hardware="h100", prompt_tokens=512, output_tokens=256)
    ttft, latency, per_out, per_in = _spans(est, ("ttft", "s"), ("latency", "s"), ("cost_per_million_tokens", "USD"),
                                           ("cost_per_million_input_tokens", "USD"))
    assert lines["TTFT"] == f"{fmt.duration(*ttft)} (prefill compute-bound)" and " ms (" in lines["TTFT"]
    assert lines["latency"] == f"{fmt.duration(*latency)} per request" and " s (" in lines["latency"]
    assert lines["cost"] == (f"< $0.01 per request, {fmt.money(*per_out)} per million output tokens, "
                             f"{fmt.money(*per_in)} per million input tokens")
    assert out.startswith("Serving llama-2-7b on 1 x h100-sxm5-80gb with vllm (bf16 weights, bf16 KV), continuous")


def test_compare_table_in_human_units(runner):
    out = _ok(runner.invoke(main, ["compare", "--models", "gpt2,gpt3-175b"]))
    gpt2 = next(line for line in out.splitlines() if line.startswith("gpt2 "))
    est = costmodel.estimate_training("gpt2", tokens="2.48B", hardware="h100", n_gpus=1024)  # 20 tokens per param
    wall, cost = _spans(est, ("wall_time", "s"), ("cost", "USD"))
    assert fmt.duration(*wall) in gpt2 and " s (" in fmt.duration(*wall) and "e-0" not in gpt2
    assert fmt.energy(est.energy.to("J").magnitude) in gpt2 and fmt.mass(est.co2e.to("g").magnitude) in gpt2
    assert fmt.money(*cost) in gpt2 and "/s " in gpt2  # served at the SLA's rate
    gpt3 = next(line for line in out.splitlines() if line.startswith("gpt3-175b "))
    est = costmodel.estimate_training("gpt3-175b", hardware="h100", n_gpus=1024)
    wall, cost = _spans(est, ("wall_time", "s"), ("cost", "USD"))
    assert fmt.duration(*wall) in gpt3 and " days (" in fmt.duration(*wall)
    assert fmt.money(*cost) in gpt3 and fmt.money(*cost).startswith("$") and "M ($" in fmt.money(*cost)


def test_sweep_table_in_human_units(runner):
    out = _ok(runner.invoke(main, ["sweep", "train", "--model", "gpt2", "--tokens", "1B", "--hardware", "h100",
                                   "--gpus", "8,64"]))
    header, _, first, second = out.splitlines()
    assert header.split() == ["model", "hardware", "dtype", "n_gpus", "params", "tokens", "mfu", "wall_time",
                              "gpu_hours_h", "memory_per_gpu", "fits", "energy", "co2e", "cost"]
    est = costmodel.estimate_training("gpt2", tokens="1B", hardware="h100", n_gpus=8)
    assert first.split()[3:] == ["8", "124M", "1B", fmt.number(est.mfu.magnitude),
                                 *fmt.duration(est.wall_time.to("s").magnitude).split(),
                                 fmt.number(est.gpu_hours.to("hour").magnitude),
                                 *fmt.size(est.memory_per_gpu.to("B").magnitude).split(), "True",
                                 *fmt.energy(est.energy.to("J").magnitude).split(),
                                 *fmt.mass(est.co2e.to("g").magnitude).split(), fmt.money(est.cost.magnitude)]
    assert first.split()[8] == "min"  # minutes, not 0.00693 days
    est = costmodel.estimate_training("gpt2", tokens="1B", hardware="h100", n_gpus=64)
    assert second.split()[7:9] == fmt.duration(est.wall_time.to("s").magnitude).split()


def test_optimal_table_in_human_units(runner):
    out = _ok(runner.invoke(main, ["optimal", "--budget", "$1M"]))
    row = next(line for line in out.splitlines() if line.startswith("compute-optimal"))
    days = costmodel.compute_optimal("$1M").training.wall_time.to("day").magnitude
    assert row.split()[6:9] == [f"{days:.3g}", "days", "$1M"]  # a $1M budget spent: not '$1,000k'
