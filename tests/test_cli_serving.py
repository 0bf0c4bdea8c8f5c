"""`costmodel infer` under traffic (--rate, --concurrency, --prefix-cache, --engine) and
`costmodel engines`: what they print against the library's own figures, and their errors."""

import json
import re
from pathlib import Path

import pytest

import costmodel
from costmodel.calibration import default_calibration
from costmodel.cli import main
from costmodel.cli import format as fmt
from costmodel.datafiles import read_toml
from costmodel.engines import engine_constants, get_engine

INFER = ["infer", "llama-2-7b", "--hardware", "h100"]
DEFAULTS = dict(hardware="h100", prompt_tokens=512, output_tokens=256)  # the CLI's --prompt and --output defaults
ENGINE_IDS = [e["id"] for e in read_toml(Path(costmodel.__file__).resolve().parent / "data" / "engines.toml")["engine"]]


def _ok(result):
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def _one_line_error(result, code):
    assert result.exit_code == code, result.output
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.output
    return result.stderr


def test_infer_with_a_rate_prints_the_percentiles_and_the_sustainable_rate(runner):
    out = _ok(runner.invoke(main, [*INFER, "--rate", "4/s"])).stdout
    est = costmodel.estimate_inference("llama-2-7b", rate="4/s", **DEFAULTS)
    p = {k: v.to("s").magnitude for k, v in est.percentiles.items()}
    for key, name in (("ttft", "TTFT"), ("tpot", "TPOT"), ("latency", "latency")):
        line = next(line for line in out.splitlines() if line.strip().startswith(name) and " p50 " in line)
        assert line.split(name, 1)[1].strip() == (f"p50 {fmt.duration(p[key + '_p50'])}, p90 {fmt.duration(p[key + '_p90'])}, "
                                                   f"p99 {fmt.duration(p[key + '_p99'])}")
    queue = next(line for line in out.splitlines() if line.strip().startswith("queue"))
    assert f"sustains up to {est.max_rate.to('1/s').magnitude:,.3g} requests/s" in queue
    assert f"{fmt.duration(est.queue.to('s').magnitude)} mean wait" in queue
    assert "traffic: Poisson arrivals" in out  # the assumption says which model gave the percentiles


def test_infer_without_traffic_prints_no_percentiles(runner):
    out = _ok(runner.invoke(main, INFER)).stdout
    assert " p99 " not in out and "sustains up to" not in out


def test_infer_rate_json_has_the_percentiles_with_ranges(runner):
    data = json.loads(_ok(runner.invoke(main, [*INFER, "--rate", "720/min", "--json"])).stdout)
    est = costmodel.estimate_inference("llama-2-7b", rate=12.0, **DEFAULTS).to_dict(ranges=True)
    for key in ("ttft_p50_ms", "ttft_p90_ms", "ttft_p99_ms", "tpot_p99_ms", "latency_p99_ms", "queue_ms",
                "max_rate_per_s", "cost_per_million_input_tokens_USD", "cost_per_million_tokens_USD"):
        for k in (key, f"{key}_low", f"{key}_high"):
            assert data[k] == pytest.approx(est[k], rel=1e-12), k  # 720/min is 12/s
    assert data["samples_per_s"] == pytest.approx(12.0, rel=1e-9)  # below max_rate, every request is served
    assert "traffic" in data["assumptions"]


def test_infer_with_concurrency_is_a_closed_loop(runner):
    data = json.loads(_ok(runner.invoke(main, [*INFER, "--concurrency", "1", "--json"])).stdout)
    # one client: one request at a time, nothing queued, a completion every latency
    assert data["queue_ms"] == 0.0
    assert data["samples_per_s"] == pytest.approx(1 / data["latency_s"], rel=1e-9)
    assert data["ttft_p50_ms"] == pytest.approx(data["ttft_p99_ms"], rel=1e-9)


def test_the_batch_under_traffic_is_the_limit_in_flight(runner):
    free = json.loads(_ok(runner.invoke(main, [*INFER, "--rate", "4/s", "--json"])).stdout)
    capped = json.loads(_ok(runner.invoke(main, [*INFER, "--rate", "4/s", "--batch", "4", "--json"])).stdout)
    assert capped["in_flight"] <= 4 < free["in_flight"]
    assert capped["max_rate_per_s"] < free["max_rate_per_s"]  # fewer sequences share each decode step
    assert capped["queue_ms"] > free["queue_ms"]


def test_infer_prefix_cache_and_engine_flags_reach_the_estimate(runner):
    data = json.loads(_ok(runner.invoke(main, [*INFER, "--prefix-cache", "0.5", "--engine", "trt-llm",
                                               "--json"])).stdout)
    est = costmodel.estimate_inference("llama-2-7b", prefix_cache=0.5, engine="tensorrt-llm", **DEFAULTS)
    assert data["engine"] == "tensorrt-llm"
    assert data["ttft_ms"] == pytest.approx(est.ttft.to("ms").magnitude, rel=1e-12)
    assert data["cost_per_million_cached_tokens_USD"] == pytest.approx(
        est.cost_per_million_cached_tokens.to("USD").magnitude, rel=1e-12)


def test_an_unknown_engine_exits_1_with_one_line(runner):
    err = _one_line_error(runner.invoke(main, [*INFER, "--engine", "bogus"]), 1)
    assert err == "Error: --engine: 'bogus' is not a known serving engine (see: costmodel engines)\n"
    err = _one_line_error(runner.invoke(main, [*INFER, "--engine", "vlm"]), 1)
    assert "did you mean 'vllm'?" in err


def test_an_engine_that_does_not_serve_the_model_is_a_usage_error(runner):
    err = _one_line_error(runner.invoke(main, ["infer", "resnet-50", "--hardware", "t4", "--engine", "vllm"]), 2)
    assert err.startswith("Error: --engine: vLLM does not serve a model that runs one forward pass") and "tensorrt" in err


@pytest.mark.parametrize("share", ["150%", "1.5", "-0.1", "half"])
def test_a_prefix_cache_outside_its_range_exits_2_with_one_line(runner, share):
    err = _one_line_error(runner.invoke(main, [*INFER, "--prefix-cache", share]), 2)
    assert err.startswith("Error: --prefix-cache: ")


def test_prefix_cache_takes_a_percentage_as_its_help_says(runner):
    half = _ok(runner.invoke(main, [*INFER, "--prefix-cache", "50%", "--json"])).stdout
    assert json.loads(half)["ttft_ms"] == json.loads(_ok(runner.invoke(main, [*INFER, "--prefix-cache", "0.5",
                                                                              "--json"])).stdout)["ttft_ms"]
    err = _one_line_error(runner.invoke(main, [*INFER, "--prefix-cache", "150%"]), 2)
    assert "expected a share from 0 up to (not including) 1" in err


# ---- costmodel engines -----------------------------------------------------------------------

def test_engines_lists_every_engine_with_its_constants(runner):
    out = _ok(runner.invoke(main, ["engines"])).stdout.splitlines()
    assert out[0].split()[:2] == ["id", "name"] and set(out[1]) <= {"-", " "}
    rows = {line.split()[0]: line for line in out[2:]}
    assert list(rows) == ENGINE_IDS
    cal = default_calibration().serving
    for engine_id, line in rows.items():
        e = get_engine(engine_id)
        k = engine_constants(cal, e)
        cells = line[len(e.id):].split(e.name, 1)[1].split()
        assert cells[:4] == ["/".join(e.serves), f"{k.fixed_s * 1e3:.3g}", f"{k.launch_s * 1e6:.3g}",
                             f"{k.efficiency:.2f}"], engine_id
        if k.borrowed_from != "measured":  # measured constants: test_engines_table_says_measured_constants_are_measured
            assert " ".join(cells[4:]) == (str(k.points) if k.points else f"like {k.borrowed_from}")


def test_engines_json_lists_every_engine_with_its_constants(runner):
    rows = json.loads(_ok(runner.invoke(main, ["engines", "--json"])).stdout)["rows"]
    assert [r["id"] for r in rows] == ENGINE_IDS
    cal = default_calibration().serving
    for r in rows:
        e = get_engine(r["id"])
        k = engine_constants(cal, e)
        assert (r["step_overhead_s"], r["launch_overhead_s"], r["efficiency"]) == (k.fixed_s, k.launch_s, k.efficiency)
        assert (r["fitted_points"], r["borrowed_from"]) == (k.points, k.borrowed_from)
        assert r["serves"] == list(e.serves) and r["aliases"] == list(e.aliases) and r["source"] == e.source
    by_id = {r["id"]: r for r in rows}
    assert by_id["vllm"]["max_in_flight"] == 256  # --max-num-seqs' default
    assert by_id["eager"]["in_flight_batching"] is False and by_id["vllm"]["in_flight_batching"] is True
    # NumPy's constants are measured (engines.toml: 1.44 us per call, rounded to 1.5 us), not fitted
    assert (by_id["numpy"]["step_overhead_s"], by_id["numpy"]["launch_overhead_s"]) == (1.5e-6, 0.0)
    # vLLM and TensorRT-LLM have points from several sources: constants of their own; LMDeploy (one
    # source) shares those fitted on its class (captured graphs)
    assert by_id["tensorrt-llm"]["fitted_points"] > 0 and by_id["vllm"]["fitted_points"] > 0
    assert by_id["lmdeploy"]["borrowed_from"] == "class:graphs"


def test_engines_table_says_measured_constants_are_measured(runner):
    out = _ok(runner.invoke(main, ["engines"])).stdout
    numpy = next(line for line in out.splitlines() if line.startswith("numpy "))
    assert not re.search(r"like measured\s*$", numpy)
