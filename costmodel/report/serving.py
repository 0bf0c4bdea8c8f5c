"""The report's serving section: latency, price per million input and output tokens and energy
per request, at a stated operating point, in the datacenter and at the edge.

- Generative models in the datacenter: with a rate (``Options.rate``), the SLA planner's
  deployment (:func:`costmodel.plan_serving` with the interactive targets, p99 TTFT 1 s and p99
  TPOT 50 ms): replicas, devices per replica, precision, engine, batch limit, p99s against the
  targets, headroom, and one replica of it estimated at its share of the rate. Without one, one
  replica at the largest rate meeting the same targets (:func:`costmodel.planning.serve_interactive`,
  what ``costmodel compare`` shows).
- Other models (image, tabular, encoders) in the datacenter: one request at a time (batch 1):
  latency per request and samples/s.
- Edge devices: one device, ``Options.edge_batch_size`` requests at a time (default 1).

Every figure is the library's; the cells are written with the CLI's helpers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..cli import format as fmt
from ..errors import CostModelError, InputError
from .content import GENERATIVE, Figure, Options, Panel, Section, Table, point

__all__ = ["serving_section", "Served", "DATACENTER_HEADER", "BATCH1_HEADER", "EDGE_HEADER", "SLA_TEXT"]

SLA_TEXT = "p99 TTFT 1 s and p99 TPOT 50 ms"
NO_PRICE = "'-' for a price: the device's profile has none (costmodel infer --price gives one)."
DATACENTER_HEADER = ("model", "replicas", "devices per replica", "format", "engine", "batching", "rate",
                     "p99 TTFT", "p99 TPOT", "p99 latency", "$ per million input tokens",
                     "$ per million output tokens", "energy per request", "headroom")
BATCH1_HEADER = ("model", "devices", "format", "engine", "batch", "latency per request", "throughput",
                 "energy per request")
EDGE_HEADER = ("model", "device", "format", "engine", "batch", "latency per request", "TTFT", "TPOT", "throughput",
               "$ per million input tokens", "$ per million output tokens", "energy per request",
               "battery share per request")


@dataclass(frozen=True, slots=True, kw_only=True)
class Served:
    """One generative model's datacenter deployment as the table states it: the estimate of one
    replica at its operating point, and the deployment's own figures already written."""

    estimate: Any  # InferenceEstimate
    replicas: str
    devices: str
    batching: str
    rate: str
    ttft_target: str
    tpot_target: str
    headroom: str


def _ms(q) -> str:
    return "-" if q is None else fmt.duration(q.to("s").magnitude)


def interactive_plan(model, o: Options):
    """:func:`costmodel.plan_serving` of ``model`` at ``o.rate`` on ``o.serve_hardware`` within
    the interactive SLA. Where nothing meets it, the error names what the report's reader gave,
    the rate (the report has no targets to loosen), and says what to change."""
    from ..planning import INTERACTIVE_SLA, plan_serving

    assert o.rate is not None  # the report plans only with a rate
    try:
        return plan_serving(model, hardware=o.serve_hardware, rate=o.rate, prompt_tokens=o.prompt_tokens,
                            output_tokens=o.output_tokens, region=o.region, ttft_p99=INTERACTIVE_SLA["ttft_p99"],
                            tpot_p99=INTERACTIVE_SLA["tpot_p99"])
    except InputError as exc:
        if exc.argument not in ("ttft_p99", "tpot_p99"):
            raise
        raise InputError(f"at this rate {exc.template}; give a lower one or another {{serve_hardware}}",
                         argument="rate") from None


def _planned(spec, o: Options) -> Served:
    """The SLA planner's cheapest deployment for ``o.rate`` on ``o.serve_hardware``."""
    plan = interactive_plan(spec, o)  # _generative calls this only with a rate
    b = plan.best
    return Served(estimate=plan.estimate, replicas=str(b.replicas),
                  devices=f"{b.devices_per_replica} x {b.hardware} ({b.layout})",
                  batching=f"{plan.estimate.batching}, up to {b.batch_limit} in flight",
                  rate=f"{fmt.number(plan.rate.to('1/s').magnitude)}/s in all (each replica sustains "
                       f"{fmt.number(b.sustainable_rate.to('1/s').magnitude)}/s)",
                  ttft_target=f" (target {_ms(plan.ttft_p99)})", tpot_target=f" (target {_ms(plan.tpot_p99)})",
                  headroom=f"{b.headroom:.0%}")


def _interactive(spec, o: Options) -> Served:
    """One replica at the largest rate meeting the interactive SLA (``costmodel compare``'s point)."""
    from ..planning import INTERACTIVE_SLA, serve_interactive

    est, gpus, rate = serve_interactive(spec, hardware=o.serve_hardware, prompt_tokens=o.prompt_tokens,
                                        output_tokens=o.output_tokens, batch_size=o.batch_size, region=o.region)
    if rate > 0:
        return Served(estimate=est, replicas="1", devices=f"{gpus} x {est.hardware}",
                      batching=_in_flight(est), rate=f"{rate:,.3g}/s (the most within the SLA)",
                      ttft_target=f" (target {fmt.duration(INTERACTIVE_SLA['ttft_p99'])})",
                      tpot_target=f" (target {fmt.duration(INTERACTIVE_SLA['tpot_p99'])})",
                      headroom="none: at the SLA's limit")
    return Served(estimate=est, replicas="1", devices=f"{gpus} x {est.hardware}",
                  batching=f"{est.batching}, batch {est.batch_size}", rate=f"none meets the SLA: batch {est.batch_size}",
                  ttft_target="", tpot_target="", headroom="-")


def _in_flight(est) -> str:
    """The limit on requests in flight of an estimate under traffic with none given: what fits in
    memory, or the engine's own limit where that is lower."""
    from ..engines import get_engine

    engine = get_engine(est.engine).max_in_flight
    if engine and engine < est.max_batch_size:
        return f"{est.batching}, up to {engine:,} in flight ({est.engine}'s limit)"
    return f"{est.batching}, up to {est.max_batch_size:,} in flight (what fits in memory)"


def datacenter_row(s: Served) -> tuple[str, ...]:
    """A generative model's datacenter row, figures with their ranges as ``costmodel infer``
    writes them (the p99s typical only, as the CLI shows them)."""
    est = s.estimate
    r = lambda path, unit, style: fmt.ranged(est, path, unit, style)  # noqa: E731
    return (est.model, s.replicas, s.devices, est.dtype, est.engine, s.batching, s.rate,
            _ms(est.ttft_p99) + s.ttft_target, _ms(est.tpot_p99) + s.tpot_target, _ms(est.latency_p99),
            r("cost_per_million_input_tokens", "USD", fmt.money), r("cost_per_million_output_tokens", "USD", fmt.money),
            r("energy", "J", fmt.energy), s.headroom)


def _throughput(est, generative: bool) -> str:
    if generative:
        return fmt.ranged(est, "throughput", "token/s", lambda *v: fmt.plain(*v, unit="output tokens/s"))
    return fmt.ranged(est, "samples_per_second", "1/s", lambda *v: fmt.plain(*v, unit="samples/s"))


def batch1_row(est, gpus: int) -> tuple[str, ...]:
    """A non-generative model's row: one request at a time."""
    return (est.model, f"{gpus} x {est.hardware}", est.dtype, est.engine, str(est.batch_size),
            fmt.ranged(est, "latency", "s", fmt.duration), _throughput(est, False),
            fmt.ranged(est, "energy", "J", fmt.energy))


def edge_row(est, generative: bool) -> tuple[str, ...]:
    """A model on one edge device."""
    r = lambda path, unit, style: fmt.ranged(est, path, unit, style)  # noqa: E731
    share = est.battery_share
    return (est.model, f"1 x {est.hardware}", est.dtype, est.engine, str(est.batch_size),
            r("latency", "s", fmt.duration), r("ttft", "s", fmt.duration) if generative else "-",
            r("tpot", "s", fmt.duration) if generative else "-", _throughput(est, generative),
            r("cost_per_million_input_tokens", "USD", fmt.money) if generative else "-",
            r("cost_per_million_output_tokens", "USD", fmt.money) if generative else "-",
            r("energy", "J", fmt.energy), "-" if share is None else r("battery_share", "", fmt.plain))


def _edge(o: Options, specs) -> tuple[list[tuple[Any, bool]], list[str]]:
    """Each model on each edge device, one device per request; the models that do not fit, named."""
    from ..inference_estimate import estimate_inference

    served, left_out = [], []
    for hw in o.edge_hardware:
        for spec in specs:
            try:
                est = estimate_inference(spec, hardware=hw, n_gpus=1, prompt_tokens=o.prompt_tokens,
                                         output_tokens=o.output_tokens, batch_size=o.edge_batch_size)
            except CostModelError as exc:
                left_out.append(f"{spec.id} on {hw}: {exc}")
                continue
            if not est.fits:
                left_out.append(f"{spec.id} does not fit on one {hw}")
                continue
            served.append((est, spec.kind in GENERATIVE))
    return served, left_out


def _generative(o: Options, specs) -> tuple[list[Served], list[str]]:
    served, notes = [], []
    for spec in specs:
        try:
            served.append(_planned(spec, o) if o.rate is not None else _interactive(spec, o))
        except CostModelError as exc:  # no deployment meets the targets, or none fits
            notes.append(f"{spec.id}: {exc}")
    return served, notes


def _point_text(o: Options) -> str:
    if o.rate is not None:
        return (f"{fmt.number(o.rate)} requests/s in all (Poisson), served by the cheapest deployment that meets "
                f"{SLA_TEXT} (costmodel plan-serving: replicas, devices per replica, precision, engine and batch "
                "limit searched; each replica at its share of the rate)")
    return (f"one replica at the largest Poisson rate that meets {SLA_TEXT} (as costmodel compare serves), on the "
            "fewest power-of-two devices that hold the model")


def _caption(o: Options) -> str:
    if o.rate is not None:
        return (f"Datacenter, language models: {fmt.number(o.rate)} requests/s on {o.serve_hardware}, the cheapest "
                f"deployment meeting {SLA_TEXT}")
    return f"Datacenter, language models: one replica on {o.serve_hardware} at the most requests/s within {SLA_TEXT}"


def serving_section(o: Options) -> Section:
    """Latency, price per million input and output tokens and energy per request, datacenter and edge."""
    from ..models import get_model
    from ..planning import serve

    specs = [get_model(m, argument="models") for m in o.models]
    generative, notes = _generative(o, [s for s in specs if s.kind in GENERATIVE])
    others = [serve(s, hardware=o.serve_hardware, prompt_tokens=o.prompt_tokens, output_tokens=o.output_tokens,
                    batch_size=1, region=o.region) for s in specs if s.kind not in GENERATIVE]
    edge, left_out = _edge(o, specs)
    requests = f"{o.prompt_tokens} prompt and {o.output_tokens} output tokens per request"
    tables = []
    if generative or notes:
        tables.append(Table(caption=_caption(o), header=DATACENTER_HEADER, key="serving-table",
                            rows=tuple(datacenter_row(s) for s in generative),
                            notes=(*notes, f"{requests}, at " + _point_text(o) + ".",
                                   "p99s under Poisson traffic from the analytic queue model; prices at the "
                                   "on-demand price, ranges in brackets (low-high).")))
    if others:
        tables.append(Table(caption=f"Datacenter, other models: {o.serve_hardware}, one request at a time (batch 1)",
                            header=BATCH1_HEADER, rows=tuple(batch1_row(e, g) for e, g in others),
                            key="serving-batch1-table",
                            notes=("Latency of one batch-1 request (one forward pass) and the samples/s one device "
                                   "serves that way, on the fewest power-of-two devices that hold the model.",)))
    if o.edge_hardware:
        tables.append(Table(caption=f"Edge: one {' / one '.join(o.edge_hardware)}, batch {o.edge_batch_size}"
                                    + (" (one request at a time)" if o.edge_batch_size == 1 else ""),
                            header=EDGE_HEADER, rows=tuple(edge_row(e, g) for e, g in edge), key="edge-table",
                            notes=(*left_out, f"Language models: {requests}.", NO_PRICE)))
    order = {m: i for i, m in enumerate(dict.fromkeys(s.id for s in specs))}
    everything = sorted([*(s.estimate for s in generative), *(e for e, _ in others), *(e for e, _ in edge)],
                        key=lambda e: order[e.model])
    # under traffic the low/high ends are other regimes (a replica at the SLA's limit overloads
    # in the slow scenario): the latency panel shows those estimates' typical figure alone
    panels = tuple(Panel(title=title, xlabel="model", ylabel=label, xscale="linear",
                         points=tuple(point(e, attr, unit, e.model, e.model, series=e.hardware,
                                            ranged=attr != "latency" or e.percentiles is None) for e in everything))
                   for attr, unit, title, label in (("latency", "s", "Mean latency per request", "latency [s]"),
                                                    ("energy", "Wh", "Energy per request", "energy [Wh]")))
    figure = Figure(title="Serving: latency and energy per request", key="serving-figure", panels=panels,
                    caption="Two panels, one marker per model and device (log scale): the mean time one request "
                            "takes and the energy it uses at the tables' operating points, datacenter and edge "
                            "devices side by side; bars span the low-high range (latency under traffic: the typical "
                            "figure only, the tables give its p99). Models that do not fit on an edge device are "
                            "left out.")
    intro = ("Operating points: language models in the datacenter at " + _point_text(o) + "; other models one "
             f"request at a time (batch 1); edge devices batch {o.edge_batch_size}. Latency is the whole request "
             "(queueing, prefill and decoding); prices per million input and output tokens are at the on-demand "
             "price; energy per request includes the server and PUE in the datacenter and the device's own power "
             "budget at the edge.",)
    return Section(key="serving", title="Serving", intro=intro, tables=tuple(tables), figures=(figure,))
