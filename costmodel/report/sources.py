"""The report's last section: what the estimates assumed, and the source of every figure used.

Hardware profiles carry a source per figure (``HardwareProfile.sources``), catalog models and
regions one per entry, scaling laws one per law; estimates carry ``assumptions``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Source", "Assumptions", "sources", "assumptions"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """One cited figure: what it is, where it is from, when it was retrieved."""

    subject: str
    text: str
    retrieved: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Assumptions:
    """An estimate's assumptions, as it reports them."""

    title: str
    items: tuple[tuple[str, str], ...]


def _hardware(ids) -> list[Source]:
    from ..hardware import get_hardware

    out = []
    for hw in dict.fromkeys(ids):
        profile = get_hardware(hw)
        out += [Source(subject=f"{profile.id}: {name}", text=s.source, retrieved=s.retrieved, note=s.note)
                for name, s in profile.sources.items()]
    return out


def sources(o) -> dict[str, list[Source]]:
    """Sources of every hardware profile, model, region and scaling law the report used."""
    from ..models import get_model
    from ..regions import get_region
    from ..scaling import get_law

    models = dict.fromkeys([*o.models, o.carbon_model, o.variant_model])
    regions = [get_region(r) for r in dict.fromkeys([*o.regions, *([o.region] if o.region else [])])]
    law = get_law("besiroglu2024")
    return {
        "Models": [Source(subject=m.id, text=m.source, retrieved=m.retrieved, note=m.notes)
                   for m in (get_model(i) for i in models)],
        "Hardware": _hardware([o.hardware, o.serve_hardware, *o.edge_hardware]),
        "Regions": [s for r in regions for s in (Source(subject=f"{r.id}: grid intensity", text=r.grid_source,
                                                        retrieved=r.retrieved),
                                                 Source(subject=f"{r.id}: PUE", text=r.pue_source,
                                                        retrieved=r.retrieved))],
        "Scaling law": [Source(subject=law.id, text=law.source)],
    }


def assumptions(o) -> list[Assumptions]:
    """The assumptions of one training run and one serving run per device the report used."""
    from ..inference_estimate import estimate_inference
    from ..models import get_model
    from ..planning import serve_interactive
    from ..training_estimate import estimate_training
    from .content import training_data
    from .serving import interactive_plan

    spec = get_model(o.carbon_model)
    data, _ = training_data(spec)
    runs: list[tuple[str, Any, dict[str, str]]] = [
        (f"Training {spec.id} on {o.n_gpus:,} x {o.hardware}",
         estimate_training(spec, **data, hardware=o.hardware, n_gpus=o.n_gpus, region=o.region), {})]
    traffic = dict(prompt_tokens=o.prompt_tokens, output_tokens=o.output_tokens)
    if o.rate is not None:  # the serving section's operating point: the SLA planner's deployment
        plan = interactive_plan(o.variant_model, o)
        b = plan.best
        runs.append((f"Serving {o.variant_model}: {b.replicas} replica(s) x {b.devices_per_replica} {o.serve_hardware} "
                     f"(costmodel plan-serving)", plan.estimate, dict(plan.assumptions)))
    else:  # the largest rate per replica within the interactive SLA
        served, gpus, _ = serve_interactive(o.variant_model, hardware=o.serve_hardware, batch_size=o.batch_size,
                                            region=o.region, **traffic)
        runs.append((f"Serving {o.variant_model} on {gpus} x {o.serve_hardware}", served, {}))
    for hw in o.edge_hardware:
        small = o.models[0] if o.models else o.variant_model
        runs.append((f"Serving {small} on one {hw}",
                     estimate_inference(small, hardware=hw, n_gpus=1, batch_size=o.edge_batch_size, **traffic), {}))
    return [Assumptions(title=title, items=tuple((k, str(v)) for k, v in {**est.assumptions, **extra}.items()))
            for title, est, extra in runs]
