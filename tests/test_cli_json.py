"""One key scheme for every command's JSON (``to_dict()``'s ``<name>_<unit>``), strict RFC 8259
JSON (no NaN, no Infinity, null never "None"), and CSV cells that hold raw numbers."""

import csv
import io
import json
import re

import pytest

import costmodel
from costmodel.cli import main
from costmodel.cli.options import emit_json, plain

COMMANDS = {
    "train": ["train", "resnet-50", "--hardware", "h100", "--gpus", "8"],
    "infer": ["infer", "resnet-50", "--hardware", "epyc-9654"],  # no price, no output tokens: nulls
    "hardware show": ["hardware", "show", "h100"],
    "models show": ["models", "show", "gpt2"],
    "compare": ["compare", "--models", "gpt2,resnet-50"],
    "optimal": ["optimal", "--budget", "1e22", "--inference-tokens", "1T"],
    "compare-sizes": ["compare-sizes", "--budget", "1e22", "--sizes", "1B,7B", "--hardware", "epyc-9654"],
    "hardware list": ["hardware", "list"],
    "models list": ["models", "list"],
    "regions list": ["regions", "list"],
    "sweep train": ["sweep", "train", "--params", "7B,8B", "--tokens", "1T", "--hardware", "h100"],
    "sweep infer": ["sweep", "infer", "--model", "resnet-50", "--hardware", "epyc-9654", "--batch", "1,8"],
}


def _refuse(constant):
    raise AssertionError(f"{constant} is not JSON (RFC 8259)")


def _json(runner, args):
    result = runner.invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout, parse_constant=_refuse)


def _strings(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_json_is_strict_and_null_is_never_the_string_none(runner, name):
    data = _json(runner, COMMANDS[name])
    assert "None" not in set(_strings(data)) and "nan" not in set(_strings(data))


def test_compare_rows_use_the_estimates_keys(runner):
    rows = _json(runner, COMMANDS["compare"])["rows"]
    train = costmodel.estimate_training("gpt2", tokens="2.48B", hardware="h100", n_gpus=1024).to_dict(ranges=True)
    infer = costmodel.estimate_inference("gpt2", hardware="h100", prompt_tokens=512, output_tokens=256,
                                         batch_size=8).to_dict(ranges=True)
    own = {"model", "params", "estimate", "workload", "samples", "serve_gpus", "serve_rate_per_s", "operating_point"}
    assert set(rows[0]) - own <= set(train) | set(infer)
    # serving at the largest rate that meets the interactive SLA, and the rows say so
    assert rows[0]["serve_rate_per_s"] > 1 and "p99 TTFT 1 s and p99 TPOT 50 ms" in rows[0]["operating_point"]
    assert rows[0]["ttft_p99_ms"] <= 1000 * (1 + 1e-6) and rows[0]["tpot_p99_ms"] <= 50 * (1 + 1e-6)
    assert {"wall_time_days", "gpu_hours_h", "flops_FLOP", "cost_USD", "co2e_t", "energy_MWh", "ttft_ms",
            "cost_per_million_tokens_USD", "wall_time_days_low", "cost_USD_high"} <= set(rows[0])
    assert rows[0]["wall_time_days"] == pytest.approx(train["wall_time_days"], rel=1e-12)
    assert rows[1]["cost_per_million_tokens_USD"] is None  # resnet-50 generates no tokens: null


def test_planning_rows_use_the_same_keys(runner):
    train = set(costmodel.estimate_training("gpt2", tokens="1B", hardware="h100", n_gpus=8).to_dict())
    optimal = _json(runner, COMMANDS["optimal"])["rows"]
    assert set(optimal[0]) - {"choice", "loss", "budget_used", "lifetime_flops_FLOP", "serving_cost_USD"} <= train
    assert "wall_time_days" in optimal[0] and "cost_USD" in optimal[0]
    sizes = _json(runner, COMMANDS["compare-sizes"])["rows"]
    assert set(sizes[0]) - {"tokens_per_param", "loss", "serve_gpus", "best", "tpot_ms",
                            "cost_per_million_tokens_USD"} <= train
    assert sizes[0]["cost_USD"] is None  # epyc-9654 has no price: null, not "None"


def test_sweep_json_keeps_every_digit_and_writes_null(runner):
    rows = _json(runner, COMMANDS["sweep infer"])["rows"]
    est = costmodel.estimate_inference("resnet-50", hardware="epyc-9654", prompt_tokens=512, output_tokens=256)
    assert rows[0]["energy_Wh"] == pytest.approx(est.to_dict()["energy_Wh"], rel=1e-15)  # pandas' writer kept 10 decimals
    assert rows[0]["cost_USD"] is None
    assert _json(runner, COMMANDS["sweep train"])["rows"][0]["model"] is None  # no catalog id: null


def test_emit_json_turns_nan_and_infinity_into_null(capsys):
    emit_json({"a": float("nan"), "b": [float("inf"), 1.5], "c": None})
    data = json.loads(capsys.readouterr().out, parse_constant=_refuse)
    assert (data["a"], data["b"], data["c"]) == (None, [None, 1.5], None)
    with pytest.raises(TypeError, match="cannot write a object as JSON"):
        plain(object())  # never its str()


def _csv(runner, args):
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_list_csv_cells_hold_raw_numbers(runner):
    h100 = next(r for r in _csv(runner, ["hardware", "list", "--csv"]) if r["id"] == "h100-sxm5-80gb")
    assert (float(h100["dense TFLOP/s"]), h100["dtype"]) == (989.4, "bf16")  # not '989 bf16'
    assert float(h100["bandwidth TB/s"]) == 3.35
    models = {r["id"]: r for r in _csv(runner, ["models", "list", "--csv"])}
    assert float(models["resnet-50"]["params"]) == 25.6e6  # not '25.6M'
    assert float(models["resnet-50"]["training samples"]) == 115.3e6
    assert models["gpt2"]["training tokens"] == ""  # missing: an empty cell, not '-'
    suffixed = re.compile(r"^\d[\d.,]*\s*[kMBT]$")
    cells = [c for r in models.values() for c in r.values()]
    assert not [c for c in cells if suffixed.match(c)]


def test_compare_csv_cells_are_raw(runner):
    rows = _csv(runner, ["compare", "--models", "gpt2,resnet-50", "--csv"])
    assert float(rows[0]["tokens"]) == 20 * 124e6
    assert rows[1]["tokens"] == "" and rows[1]["cost_per_million_tokens_USD"] == ""
