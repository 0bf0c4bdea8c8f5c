"""benchmarks/measure_gpu.py: its pure helpers without torch, and (where torch is installed) one
tiny measurement on the CPU, so that the script a GPU session runs cannot rot."""

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from costmodel.hardware import get_hardware
from costmodel.inference_estimate import estimate_inference
from costmodel.models import get_model
from costmodel.validation import inference_kwargs, inference_validation, read_cases

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "measure_gpu.py"


@pytest.fixture(scope="module")
def mg():
    spec = importlib.util.spec_from_file_location("measure_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["measure_gpu"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    del sys.modules["measure_gpu"]


def test_importing_needs_no_torch(mg):
    code = f"import sys, runpy; runpy.run_path({str(SCRIPT)!r}, run_name='x'); " \
           "print(sorted(m for m in ('torch', 'transformers', 'torchvision', 'timm') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_header_is_the_tables(mg):
    first = (ROOT / "tests" / "data" / "inference_points.csv").read_text(encoding="utf-8").splitlines()[0]
    assert mg.read_header() == first.split(",")


def test_header_without_a_needed_column_is_refused(mg, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("point,model_id,hardware\n")
    with pytest.raises(ValueError, match="expected the columns n_gpus, tp"):
        mg.read_header(path)


@pytest.mark.parametrize("name, expected", [
    ("NVIDIA H200", ("h200-sxm-141gb", True)),
    ("NVIDIA H100 80GB HBM3", ("h100-sxm5-80gb", True)),
    ("NVIDIA H100 PCIe", ("h100-pcie-80gb", True)),
    ("NVIDIA A100-SXM4-80GB", ("a100-sxm4-80gb", True)),
    ("NVIDIA A100-SXM4-40GB", ("a100-sxm4-40gb", True)),
    ("NVIDIA A100 80GB PCIe", ("a100-pcie-80gb", True)),
    ("NVIDIA L40S", ("l40s", True)),
    ("NVIDIA L4", ("l4", True)),
    ("Tesla T4", ("t4", True)),
    # no costmodel profile: the name stays (and is not mistaken for a neighbour's)
    ("NVIDIA H200 NVL", ("NVIDIA H200 NVL", False)),
    ("NVIDIA GH200 480GB", ("NVIDIA GH200 480GB", False)),
    ("NVIDIA L40", ("NVIDIA L40", False)),
    ("Quadro RTX 6000", ("Quadro RTX 6000", False)),
])
def test_device_names_map_to_hardware_ids(mg, name, expected):
    assert mg.hardware_id(name) == expected


def test_every_mapped_id_is_a_hardware_profile(mg):
    for _, hw in mg._DEVICES:
        if hw:
            assert get_hardware(hw).id == hw


_SHAPE = {"llama": {"hidden_size": "d_model", "num_hidden_layers": "layers", "num_attention_heads": "heads",
                    "num_key_value_heads": "kv_heads", "head_dim": "head_dim", "intermediate_size": "ffn_dim",
                    "vocab_size": "vocab"},
          "gpt2": {"n_embd": "d_model", "n_layer": "layers", "n_head": "heads", "n_inner": "ffn_dim",
                   "vocab_size": "vocab", "n_positions": "context"},
          "distilbert": {"dim": "d_model", "n_layers": "layers", "n_heads": "heads", "hidden_dim": "ffn_dim",
                         "vocab_size": "vocab"}}
_SHAPE["mistral"] = _SHAPE["llama"]


def test_model_shapes_are_the_catalogs(mg):
    """The configs built are the catalog's shapes, so the rows score the model they name."""
    for case in mg.MODELS:
        spec = get_model(case.id)
        assert spec.id == case.id
        assert case.layers == (spec.layers or case.layers)
        for key, attribute in _SHAPE.get(case.builder, {}).items():
            catalog = getattr(spec, attribute)
            if attribute == "head_dim" and catalog is None:  # the catalog's default: d_model / heads
                catalog = spec.d_model // spec.heads
            assert case.config[key] == catalog, (case.id, key)
        assert case.context == (spec.context or 1)  # 1: an image
        if case.kind == "vit":
            assert case.sequence == spec.context  # its 196 patches and a class token
        assert case.params == pytest.approx(float(spec.params.magnitude if hasattr(spec.params, "magnitude")
                                                  else spec.params), rel=0.03)


def test_grid_puts_batch_one_of_every_model_first(mg):
    points = mg.grid()
    causal = [m for m in mg.MODELS if m.kind == "causal"]
    one_pass = [m for m in mg.MODELS if m.kind != "causal"]
    # 3 batches x 3 prompts for each LLM but GPT-2 XL (1024-token context: no 2048 prompt), 2 batches else
    assert len(points) == 9 * (len(causal) - 1) + 6 + 2 * len(one_pass)
    first = points[:len(mg.MODELS)]
    assert {p.model.id for p in first} == {m.id for m in mg.MODELS}
    assert all(p.batch == 1 and (p.prompt == 512 or p.output == 0) for p in first)
    assert [(p.batch, p.prompt) for p in points[-4:]] == [(32, 2048)] * 4  # the costliest last
    assert not any(p.model.id == "gpt2-xl" and p.prompt == 2048 for p in points)


def test_plan_cuts_the_grid_to_the_budget(mg):
    points = mg.grid()
    assert mg.plan(points, 1e6) == points
    small = mg.plan(points, 60.0)
    cost = sum(mg.predict_seconds(p) for p in small) + sum(mg.build_seconds(m) for m in
                                                            {p.model.id: p.model for p in small}.values())
    assert 0 < len(small) < len(points) and cost <= 60.0
    order = [points.index(p) for p in small]
    assert order == sorted(order)  # the priority order is kept
    assert small[0] == points[0]
    assert not any(p.batch == 32 and p.prompt == 2048 for p in small)
    assert mg.plan(points, 0.1) == []


def test_unknown_models_are_a_usage_error(mg, capsys):
    with pytest.raises(SystemExit) as stop:
        mg.parse_args(["--out", "x.csv", "--models", "llama-3.1-8b,llama-9b"])
    assert stop.value.code == 2 and "--models: llama-9b not among llama-3.1-8b" in capsys.readouterr().err


def test_figures_are_written_plainly(mg):
    assert [mg.fmt(x) for x in (0.63612, 12.345, 1234.56, 12345.6, None)] == ["0.6361", "12.35", "1235", "12346", ""]


def _rows(mg, tmp_path):
    header = mg.read_header()
    llama = next(m for m in mg.MODELS if m.id == "llama-3.1-8b")
    resnet = next(m for m in mg.MODELS if m.id == "resnet-50")
    texts = {"hardware": "h200-sxm-141gb", "engine": "eager",
             "source": "benchmarks/measure_gpu.py on NVIDIA H200, torch 2.9.0, CUDA 12.8, 2026-12-01", "notes": "n"}
    rows = [mg.build_row(header, mg.Point(llama, 8, 512, 128), statistic="s", ttft_ms=61.2, tpot_ms=24.5,
                         throughput_tok_s=320.0, **texts),
            mg.build_row(header, mg.Point(resnet, 1, 1, 0), statistic="s", latency_ms=2.5, **texts)]
    path = tmp_path / "points.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return header, rows, path


def test_rows_are_scored_by_the_validation(mg, tmp_path):
    header, rows, path = _rows(mg, tmp_path)
    assert all(list(row) == header for row in rows)
    read = read_cases(path)
    assert inference_kwargs(read[0]) == {
        "hardware": "h200-sxm-141gb", "n_gpus": 1, "batch_size": 8, "prompt_tokens": 512, "output_tokens": 128,
        "dtype": "bf16", "kv_dtype": "bf16", "batching": "static", "model": "llama-3.1-8b", "engine": "eager"}
    assert inference_kwargs(read[1])["output_tokens"] == 0 and inference_kwargs(read[1])["model"] == "resnet-50"
    frame = inference_validation(path)
    scored = {(p, m): v for p, m, v in zip(frame["point"], frame["metric"], frame["published_ms"])}
    assert scored == {("gpu-llama-3.1-8b-b8-p512-o128", "ttft"): 61.2, ("gpu-llama-3.1-8b-b8-p512-o128", "tpot"): 24.5,
                      ("gpu-resnet-50-b1-p1-o0", "latency"): 2.5}
    assert frame["holdout"].all()
    # the estimate of the LLM row is the library's own, evaluated from the row
    est = estimate_inference(**inference_kwargs(read[0]))
    row = frame[(frame["metric"] == "ttft")].iloc[0]
    assert row["estimated_ms"] == pytest.approx(est.ttft.to("ms").magnitude, rel=1e-9)


def test_tiny_run_on_the_cpu(tmp_path):
    """The real measurement path, at tiny sizes: a 2-layer Llama (d_model 64) and a 2-layer
    DistilBERT built with random weights, one point each."""
    pytest.importorskip("torch", reason="torch is not installed (the GPU script's measuring part is not tested)")
    pytest.importorskip("transformers", reason="transformers is not installed")
    out = tmp_path / "points.csv"
    done = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--tiny", "--out", str(out),
                           "--limit-s", "300"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["model_id"] for r in rows] == ["tiny-distilbert", "tiny-llama"]
    llama = rows[1]
    assert llama["measured"] == "true" and llama["holdout"] == "true" and llama["hardware"] == "cpu"
    assert float(llama["ttft_ms"]) > 0 and float(llama["tpot_ms"]) > 0
    # throughput is the generated tokens over TTFT plus the three decode steps
    expected = 4 / ((float(llama["ttft_ms"]) + 3 * float(llama["tpot_ms"])) / 1e3)
    assert float(llama["throughput_tok_s"]) == pytest.approx(expected, rel=0.01)
    assert llama["engine"] == "eager" and "(PyTorch eager)" in llama["source"]
    assert float(rows[0]["latency_ms"]) > 0 and rows[0]["ttft_ms"] == ""
    assert "2 points measured" in done.stdout
