"""Measure serving latency of catalog models on one GPU in eager PyTorch, as rows of the
serving validation table (``tests/data/inference_points.csv``).

    python benchmarks/measure_gpu.py --out $OUT/points.csv --limit-s 420
    python benchmarks/measure_gpu.py --device cpu --tiny --out /tmp/points.csv   # the test's smoke run

Models are built from their configs with random weights (timing does not depend on the
weights; nothing is downloaded) in bf16 on the device: Llama 3.2 1B and 3B, Llama 3.1 8B,
Mistral 7B and GPT-2 XL (transformers), ResNet-50 (torchvision), ViT-B/16 (timm, else
torchvision) and DistilBERT (transformers). For each generative model and each point of a
small grid (batch 1/8/32, prompt 128/512/2048, 128 output tokens) it times, with CUDA events
after a warm-up, the TTFT (one prefill forward of the batch plus the greedy first token;
median of ``--repeats``) and the TPOT (the remaining output tokens decoded greedily one step at
a time with the KV cache, timed together and divided by the steps); for the others, one
forward pass at batch 1 and 32 (median of ``--repeats`` x 3).

The most useful points come first (every model at batch 1 and prompt 512, then batch 8, ...);
a point that would not finish before ``--limit-s`` is skipped, and a timer stops the run at the
limit. Every row is flushed as it is measured, so a killed run still leaves its rows. A point
that fails (out of memory, ...) prints one line and writes nothing. The columns are read at run
time from the repository's table, so the rows can be appended to it as they are (they are
marked ``holdout``: new points the fit has not seen). Exit status 0 when at least one point
was measured.

Only the standard library is imported at module level; torch, transformers, torchvision and
timm are imported when a measurement starts (tests/test_measure_gpu.py imports this file
without them).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import math
import os
import re
import signal
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POINTS_CSV = ROOT / "tests" / "data" / "inference_points.csv"
REQUIRED_COLUMNS = ("point", "model_id", "hardware", "n_gpus", "tp", "dtype", "engine", "batch_size", "batching",
                    "prompt_tokens", "output_tokens", "measured", "source")


@dataclass(frozen=True)
class ModelCase:
    """One model to measure: its catalog id, how to build it and a rough size for the budget."""

    id: str
    kind: str  # "causal" (TTFT and TPOT), "encoder", "cnn" or "vit" (one forward pass)
    builder: str  # a transformers model_type, or "torchvision-resnet50" / "vit-b-16"
    params: float
    layers: int
    context: int
    sequence: int = 0  # the fixed input of a one-pass model: tokens (a ViT's patches + 1), 1 for an image
    config: dict = field(default_factory=dict)  # keyword arguments of transformers.AutoConfig.for_model


def _llama(**shape) -> dict:
    return {"vocab_size": 128256, "rope_theta": 500000.0, "rms_norm_eps": 1e-5, "max_position_embeddings": 131072,
            **shape}


# Shapes of the catalog (costmodel/data/models.toml; tests/test_measure_gpu.py checks they agree).
MODELS = (
    ModelCase(id="llama-3.1-8b", kind="causal", builder="llama", params=8.03e9, layers=32, context=131072,
              config=_llama(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                            num_key_value_heads=8, head_dim=128, tie_word_embeddings=False)),
    ModelCase(id="llama-3.2-1b", kind="causal", builder="llama", params=1.24e9, layers=16, context=131072,
              config=_llama(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                            num_key_value_heads=8, head_dim=64, tie_word_embeddings=True)),
    ModelCase(id="llama-3.2-3b", kind="causal", builder="llama", params=3.21e9, layers=28, context=131072,
              config=_llama(hidden_size=3072, intermediate_size=8192, num_hidden_layers=28, num_attention_heads=24,
                            num_key_value_heads=8, head_dim=128, tie_word_embeddings=True)),
    ModelCase(id="mistral-7b-v0.1", kind="causal", builder="mistral", params=7.24e9, layers=32, context=32768,
              config={"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
                      "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "sliding_window": 4096,
                      "max_position_embeddings": 32768, "tie_word_embeddings": False}),
    ModelCase(id="gpt2-xl", kind="causal", builder="gpt2", params=1.56e9, layers=48, context=1024,
              config={"vocab_size": 50257, "n_embd": 1600, "n_layer": 48, "n_head": 25, "n_inner": 6400,
                      "n_positions": 1024}),
    ModelCase(id="resnet-50", kind="cnn", builder="torchvision-resnet50", params=25.6e6, layers=50, context=1, sequence=1),
    ModelCase(id="vit-b-16", kind="vit", builder="vit-b-16", params=86.6e6, layers=12, context=197, sequence=197),
    ModelCase(id="distilbert-base", kind="encoder", builder="distilbert", params=66e6, layers=6, context=512,
              sequence=128, config={"vocab_size": 30522, "dim": 768, "n_layers": 6, "n_heads": 12, "hidden_dim": 3072}),
)

# The --tiny models (not catalog models: their rows only show that the code runs).
TINY_MODELS = (
    ModelCase(id="tiny-llama", kind="causal", builder="llama", params=2.4e5, layers=2, context=256,
              config={"vocab_size": 256, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                      "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 256}),
    ModelCase(id="tiny-distilbert", kind="encoder", builder="distilbert", params=1.5e5, layers=2, context=256,
              sequence=16, config={"vocab_size": 256, "dim": 64, "n_layers": 2, "n_heads": 4, "hidden_dim": 128,
                                   "max_position_embeddings": 256}),
)


@dataclass(frozen=True)
class Point:
    model: ModelCase
    batch: int
    prompt: int
    output: int  # 0: one forward pass

    @property
    def name(self) -> str:
        return f"gpu-{self.model.id}-b{self.batch}-p{self.prompt}-o{self.output}"


# The order of (batch, prompt) pairs: batch-1 decoding at a typical prompt first (the most used
# and cheapest figure), then batching, then long prompts; batch 32 at 2048 tokens, the costliest, last.
PRIORITY = ((1, 512), (8, 512), (1, 2048), (32, 512), (1, 128), (8, 2048), (8, 128), (32, 128), (32, 2048))


def grid(models=MODELS, batches=(1, 8, 32), prompts=(128, 512, 2048), output=128) -> list[Point]:
    """Every point of the grid, in priority order: each (batch, prompt) pair of :data:`PRIORITY`
    for every model before the next pair; one-pass models at the smallest and largest batch.
    Points longer than a model's context are left out."""
    rank = {pair: i for i, pair in enumerate(PRIORITY)}
    keyed = []
    for m_index, m in enumerate(models):
        if m.kind == "causal":
            for b in batches:
                for p in prompts:
                    if p + output <= m.context:
                        keyed.append(((rank.get((b, p), len(rank)), b, p, m_index), Point(m, b, p, output)))
        else:
            for i, b in enumerate(sorted({min(batches), max(batches)})):
                keyed.append(((i, b, 0, m_index), Point(m, b, m.sequence, 0)))
    return [p for _, p in sorted(keyed, key=lambda kp: kp[0])]


def build_seconds(m: ModelCase) -> float:
    """A rough time to build a model on the GPU with random weights (seconds)."""
    return 2.0 + m.params / 1e9


def predict_seconds(p: Point, repeats: int = 3) -> float:
    """A rough wall time of one point on an H100/H200-class GPU in eager PyTorch (seconds): the
    warm-up and timed prefills at ~300 TFLOP/s, the decode steps at the larger of their weight
    and KV reads at ~3 TB/s and ~0.8 ms of launches per layer. Only used to order and cut the grid."""
    prefill = 2.0 * p.model.params * p.batch * max(p.prompt, 1) / 300e12 + p.model.layers * 4e-4
    if p.output == 0:
        return 4 * repeats * prefill + 0.5
    kv_bytes = p.batch * (p.prompt + p.output) * p.model.layers * 2 * 1024 * 2
    step = max((2.0 * p.model.params + kv_bytes) / 3e12, p.model.layers * 8e-4)
    return (repeats + 1) * prefill + (p.output + 3) * step + 0.5


def plan(points: list[Point], limit_s: float, repeats: int = 3) -> list[Point]:
    """The points that fit in ``limit_s`` by the rough predictions, in the given order: a point
    that does not fit is left out and later (cheaper) ones are still tried."""
    total, built, kept = 0.0, set(), []
    for p in points:
        cost = predict_seconds(p, repeats) + (0.0 if p.model.id in built else build_seconds(p.model))
        if total + cost <= limit_s:
            total += cost
            built.add(p.model.id)
            kept.append(p)
    return kept


# --- the device and the rows --------------------------------------------------------------------

# (pattern in torch.cuda.get_device_name(), costmodel hardware id); the first match wins, None
# for devices costmodel has no profile of (an H200 NVL, a GH200, an L40, ...).
_DEVICES = (("GH200", None), ("H200 NVL", None), ("H200", "h200-sxm-141gb"), ("H100 NVL", None),
            ("H100 PCIe", "h100-pcie-80gb"), ("H100", "h100-sxm5-80gb"), ("H800", "h800-sxm5-80gb"),
            ("A100-SXM4-80GB", "a100-sxm4-80gb"), ("A100-SXM4-40GB", "a100-sxm4-40gb"),
            ("A100 80GB PCIe", "a100-pcie-80gb"), ("L40S", "l40s"), ("L40", None), ("L4", "l4"), ("A10G", "a10g"),
            ("T4", "t4"), ("GB200", "gb200"), ("B200", "b200"))


def hardware_id(device_name: str) -> tuple[str, bool]:
    """The costmodel hardware id of a CUDA device name and whether it is known; an unknown device
    gives its own name (the rows then need a hardware profile before they can be scored)."""
    for pattern, hw in _DEVICES:
        if re.search(rf"(?<![A-Za-z0-9]){re.escape(pattern)}(?![A-Za-z0-9])", device_name):
            return (hw, True) if hw else (device_name, False)
    return device_name, False


def read_header(path: Path = POINTS_CSV) -> list[str]:
    """The column names of the serving validation table, in its order."""
    with open(path, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ValueError(f"{path}: expected the columns {', '.join(missing)} in its header, got {header}")
    return header


def fmt(x: float | None) -> str:
    """A figure with four significant digits, never in exponent notation; empty for None."""
    if x is None:
        return ""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    return f"{x:.{max(0, 3 - math.floor(math.log10(abs(x))))}f}"


def build_row(header: list[str], p: Point, *, hardware: str, engine: str, source: str, notes: str,
              statistic: str, ttft_ms: float | None = None, tpot_ms: float | None = None,
              latency_ms: float | None = None, throughput_tok_s: float | None = None) -> dict[str, str]:
    """One measured point as a row of the table: every column of ``header`` (empty where the
    script has nothing to say), the point's own in string form."""
    values = {"point": p.name, "model_id": p.model.id, "hardware": hardware, "n_gpus": "1", "tp": "1",
              "dtype": "bf16", "kv_dtype": "bf16" if p.output else "", "engine": engine,
              "batch_size": str(p.batch), "batching": "static", "prompt_tokens": str(p.prompt),
              "output_tokens": str(p.output), "ttft_ms": fmt(ttft_ms), "tpot_ms": fmt(tpot_ms),
              "latency_ms": fmt(latency_ms), "throughput_tok_s": fmt(throughput_tok_s), "measured": "true",
              "statistic": statistic, "holdout": "true", "source": source, "notes": notes}
    return {column: values.get(column, "") for column in header}


# --- measuring (torch from here on) --------------------------------------------------------------

class Deadline(BaseException):
    """The time budget ran out (a BaseException, so a point's ``except Exception`` lets it through)."""


class Timer:
    """Milliseconds of a callable: CUDA events on a GPU, the wall clock on a CPU."""

    def __init__(self, torch, device: str):
        self.torch, self.cuda = torch, device.startswith("cuda")

    def __call__(self, fn):
        if self.cuda:
            start, end = (self.torch.cuda.Event(enable_timing=True) for _ in range(2))
            start.record()
            result = fn()
            end.record()
            end.synchronize()
            return result, start.elapsed_time(end)
        t0 = time.perf_counter()
        result = fn()
        return result, (time.perf_counter() - t0) * 1e3


def build_model(m: ModelCase, device: str):
    """The model with random weights, in bf16 on ``device``, in eval mode; and its library's name
    and version for the engine column."""
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            if m.builder == "torchvision-resnet50":
                import torchvision

                model, library = torchvision.models.resnet50(weights=None), ("torchvision", torchvision.__version__)
            elif m.builder == "vit-b-16":
                try:
                    import timm

                    model = timm.create_model("vit_base_patch16_224", pretrained=False)
                    library = ("timm", timm.__version__)
                except ImportError:
                    import torchvision

                    model, library = torchvision.models.vit_b_16(weights=None), ("torchvision", torchvision.__version__)
            else:
                import transformers

                config = transformers.AutoConfig.for_model(m.builder, **m.config)
                auto = transformers.AutoModelForCausalLM if m.kind == "causal" else transformers.AutoModel
                model, library = auto.from_config(config), ("transformers", transformers.__version__)
    finally:
        torch.set_default_dtype(previous)
    return model.to(device=device, dtype=torch.bfloat16).eval(), library


def _forward_names(model) -> tuple[dict, str]:
    """Ask for the last position's logits only (a 32 x 2048 x 128k logits tensor is 17 GB), and
    the name of the KV cache argument (``past_key_values``; ``cache`` in newer transformers)."""
    import inspect

    names = inspect.signature(model.forward).parameters
    keep = next(({name: 1} for name in ("logits_to_keep", "num_logits_to_keep") if name in names), {})
    return keep, "cache" if "cache" in names and "past_key_values" not in names else "past_key_values"


def measure_causal(torch, model, p: Point, timer: Timer, repeats: int, device: str) -> dict:
    ids = torch.randint(0, model.config.vocab_size, (p.batch, p.prompt), device=device)
    keep, cache = _forward_names(model)

    def prefill():
        out = model(input_ids=ids, use_cache=True, **keep)
        return out[cache], out.logits[:, -1:].argmax(-1)

    def decode(state, steps):
        past, token = state
        for _ in range(steps):
            out = model(input_ids=token, use_cache=True, **{cache: past})
            past, token = out[cache], out.logits[:, -1:].argmax(-1)
        return token

    steps = p.output - 1
    with torch.inference_mode():
        timer(lambda: decode(prefill(), 3))  # warm-up: kernels chosen, allocator grown
        ttfts = []
        for _ in range(repeats):
            state, ms = timer(prefill)
            ttfts.append(ms)
        _, decode_ms = timer(lambda: decode(state, steps))
    ttft, tpot = statistics.median(ttfts), decode_ms / steps
    return {"ttft_ms": ttft, "tpot_ms": tpot,
            "throughput_tok_s": p.batch * p.output / ((ttft + decode_ms) / 1e3)}


def measure_forward(torch, model, p: Point, timer: Timer, repeats: int, device: str) -> dict:
    if p.model.kind in ("cnn", "vit"):
        inputs = {"x": torch.randn(p.batch, 3, 224, 224, device=device, dtype=torch.bfloat16)}
        run = lambda: model(inputs["x"])  # noqa: E731
    else:
        ids = torch.randint(0, model.config.vocab_size, (p.batch, p.prompt), device=device)
        run = lambda: model(input_ids=ids)  # noqa: E731
    with torch.inference_mode():
        for _ in range(3):
            timer(run)
        times = [timer(run)[1] for _ in range(3 * repeats)]
    return {"latency_ms": statistics.median(times)}


def describe_device(torch, device: str) -> dict:
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(torch.device(device))
        name = torch.cuda.get_device_name(torch.device(device))
        memory, cuda = props.total_memory, torch.version.cuda
    else:
        import platform

        name, memory, cuda = f"CPU {platform.processor() or platform.machine()}", 0, "none"
    hw, known = hardware_id(name) if device.startswith("cuda") else ("cpu", False)
    return {"name": name, "memory_gib": memory / 2**30, "cuda": cuda, "hardware": hw, "known": known}


def _texts(p: Point, info: dict, torch, library: tuple[str, str], repeats: int, attention: str) -> tuple[str, ...]:
    major_minor = ".".join(library[1].split(".")[:2])
    engine = "eager"  # costmodel's engine id (data/engines.toml); the library and version go in the source
    date = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    source = (f"benchmarks/measure_gpu.py on {info['name']}, torch {torch.__version__}, {library[0]} {major_minor} "
              f"(PyTorch eager), CUDA {info['cuda']}, {date}")
    shape = "a tiny test config, not a catalog model" if p.model in TINY_MODELS else "the catalog model's config shape"
    clock = "CUDA events" if info["cuda"] != "none" else "the wall clock"
    common = (f"random weights with {shape}, built on the device in bf16, eval mode, torch.inference_mode, "
              f"attention {attention}, no tokenizer, no server; {clock} after a warm-up")
    if p.output:
        statistic = f"ttft=median of {repeats} prefills; tpot=mean per-token of one {p.output - 1}-step decode"
        notes = (f"{common}; ttft = one prefill forward of the batch at {p.prompt} tokens plus the greedy first "
                 f"token (logits of the last position only); tpot = the other {p.output - 1} tokens decoded "
                 f"greedily one step at a time with the KV cache (the transformers cache), timed together "
                 f"and divided; throughput = generated tokens / (ttft + decode time)")
    else:
        statistic = f"latency=median of {3 * repeats} forward passes"
        what = "images 3x224x224" if p.model.kind in ("cnn", "vit") else f"sequences of {p.prompt} tokens"
        notes = f"{common}; latency = one forward pass of a batch of {p.batch} {what}"
    if not info["known"]:
        notes += f"; hardware '{info['hardware']}' is not a costmodel profile"
    return engine, statistic, source, notes


@dataclass
class Run:
    """What a run has done so far (for the summary)."""

    measured: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    failed: list = field(default_factory=list)


def _free(torch, device: str) -> None:
    import gc

    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def measure(points: list[Point], args, writer, handle, header: list[str], run: Run, started: float) -> None:
    """Measure the points in order, writing each row as it comes; stop at the deadline."""
    import torch

    device = args.device
    info = describe_device(torch, device)
    print(f"device: {info['name']} ({info['memory_gib']:.0f} GiB), hardware id {info['hardware']}"
          + ("" if info["known"] else " (not a costmodel profile: the rows keep the device's name)"), flush=True)
    timer, models, broken = Timer(torch, device), {}, set()
    remaining = {p.model.id: sum(q.model.id == p.model.id for q in points) for p in points}
    ratios: list[float] = []
    for p in points:
        remaining[p.model.id] -= 1
        correction = min(max(statistics.median(ratios), 0.5), 5.0) if ratios else 1.0
        need = correction * predict_seconds(p, args.repeats) + (0 if p.model.id in models else build_seconds(p.model))
        left = args.limit_s - (time.monotonic() - started)
        if p.model.id in broken or need > left:
            run.skipped.append(p.name)
            print(f"skip {p.name}: " + ("its model did not build" if p.model.id in broken
                                         else f"needs ~{need:.0f} s, {left:.0f} s left"), flush=True)
        else:
            try:
                if p.model.id not in models:
                    t0 = time.monotonic()
                    models[p.model.id] = build_model(p.model, device)
                    print(f"built {p.model.id} in {time.monotonic() - t0:.1f} s", flush=True)
                model, library = models[p.model.id]
                t0 = time.monotonic()
                how = measure_causal if p.output else measure_forward
                figures = how(torch, model, p, timer, args.repeats, device)
                attention = getattr(getattr(model, "config", None), "_attn_implementation", None) or "default"
                engine, statistic, source, notes = _texts(p, info, torch, library, args.repeats, attention)
                row = build_row(header, p, hardware=info["hardware"], engine=engine, source=source, notes=notes,
                                statistic=statistic, **figures)
                writer.writerow(row)
                handle.flush()
                os.fsync(handle.fileno())
                run.measured.append(row)
                ratios.append((time.monotonic() - t0) / predict_seconds(p, args.repeats))
                shown = ", ".join(f"{k} {fmt(v)}" for k, v in figures.items())
                print(f"{p.name}: {shown} ({time.monotonic() - t0:.1f} s)", flush=True)
            except Exception as error:  # one failed point (out of memory, ...) must not end the run
                if p.model.id not in models:
                    broken.add(p.model.id)
                run.failed.append(p.name)
                message = (str(error).splitlines() or [""])[0]
                print(f"fail {p.name}: {type(error).__name__}: {message[:160]}", flush=True)
        if remaining[p.model.id] == 0 and p.model.id in models:
            del models[p.model.id]
        _free(torch, device)


def _alarm(seconds: float) -> None:
    def stop(signum, frame):
        raise Deadline()

    if hasattr(signal, "SIGALRM") and seconds > 0:
        signal.signal(signal.SIGALRM, stop)
        signal.setitimer(signal.ITIMER_REAL, seconds)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write (replaced)")
    parser.add_argument("--limit-s", type=float, default=420.0, help="total time budget in seconds (default 420)")
    parser.add_argument("--device", default="cuda", help="torch device (default cuda; cpu for the smoke test)")
    parser.add_argument("--tiny", action="store_true", help="two tiny random models at one small point each")
    parser.add_argument("--models", help="comma-separated catalog ids to measure (default: all)")
    parser.add_argument("--repeats", type=int, default=3, help="timed prefills (forward passes: 3x) per point")
    parser.add_argument("--header-from", type=Path, default=POINTS_CSV, help="the table whose columns to write")
    args = parser.parse_args(argv)
    known = [m.id for m in MODELS]
    unknown = [name for name in (args.models or "").split(",") if name and name not in known]
    if unknown:
        parser.error(f"--models: {', '.join(unknown)} not among {', '.join(known)}")
    if args.repeats < 1:
        parser.error(f"--repeats: expected at least 1, got {args.repeats}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    header = read_header(args.header_from)
    if args.tiny:
        points = grid(TINY_MODELS, batches=(1,), prompts=(16,), output=4)
    else:
        chosen = MODELS if not args.models else [m for m in MODELS if m.id in args.models.split(",")]
        points = plan(grid(chosen), args.limit_s - 10.0, args.repeats)
    print(f"{len(points)} points planned within {args.limit_s:.0f} s", flush=True)
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as error:
        print(f"measure_gpu.py needs torch and transformers: {error}", file=sys.stderr)
        return 1
    run = Run()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        handle.flush()
        _alarm(args.limit_s - (time.monotonic() - started) - 2.0)
        try:
            measure(points, args, writer, handle, header, run, started)
        except Deadline:
            print("stopped: the time budget ran out", flush=True)
        finally:
            if hasattr(signal, "SIGALRM"):
                signal.setitimer(signal.ITIMER_REAL, 0)
    print(f"\n{len(run.measured)} points measured, {len(run.skipped)} skipped, {len(run.failed)} failed "
          f"in {time.monotonic() - started:.0f} s; rows in {args.out}")
    for row in run.measured:
        figures = ", ".join(f"{k} {row[k]}" for k in ("ttft_ms", "tpot_ms", "latency_ms") if row.get(k))
        print(f"  {row['model_id']:16} b{row['batch_size']:>3} p{row['prompt_tokens']:>5}: {figures}")
    return 0 if run.measured else 1


if __name__ == "__main__":
    sys.exit(main())
