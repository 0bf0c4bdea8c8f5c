"""One self-contained HTML page of estimates: ``costmodel report`` and :func:`write_report`.

The page holds training (FLOPs, device-hours, days, energy, CO2e and dollars, with ranges),
serving in the datacenter and at the edge at a stated operating point, "is bigger better?"
(predicted loss, training and lifetime cost per size, the compute- and lifetime-optimal sizes
marked), the compression levers, the carbon of one run in a few regions, and the assumptions
and sources of every figure. Tables come from a jinja2 template (the ``report`` extra),
pictures are matplotlib SVG inlined in the page, styles are inline: the file loads nothing.

Every figure comes from the library's estimators; this package only chooses the inputs,
writes numbers with the CLI's helpers (:mod:`costmodel.cli.format`) and renders.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import re
from pathlib import Path
from typing import Any, Iterable

from ..errors import InputError
from ..files import write_whole
from ..listing import entries
from .content import DEFAULT_EDGE, DEFAULT_MODELS, DEFAULT_REGIONS, Options

__all__ = ["write_report", "build_report", "Options", "DEFAULT_MODELS", "DEFAULT_REGIONS", "DEFAULT_EDGE"]

_URL = re.compile(r"https?://[^\s<>\"')\]]+[^\s<>\"')\].,;:]")


def _links(text: Any):
    """Escaped text with every URL in it a link (the sources list)."""
    from markupsafe import Markup, escape

    text = str(text)
    out, last = [], 0
    for m in _URL.finditer(text):
        out += [str(escape(text[last:m.start()])), f'<a href="{escape(m[0])}">{escape(m[0])}</a>']
        last = m.end()
    out.append(str(escape(text[last:])))
    return Markup("".join(out))


def _environment():
    try:
        import jinja2
    except ImportError:
        raise InputError("the report needs jinja2: pip install 'costmodel[report]'", argument="out") from None
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.dirname(__file__)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=False)
    env.filters["links"] = _links
    return env


def _options(models, hardware, variants, region, regions, **more) -> Options:
    """The report's inputs, checked before any work."""
    fields: dict[str, Any] = {}
    if models is not None:
        fields["models"] = tuple(_names(models, "models"))
    if variants is not None:
        fields["variants"] = tuple(_names(variants, "variants"))
    if regions is not None:
        fields["regions"] = tuple(_names(regions, "regions"))
    if hardware is not None:
        fields["hardware"] = hardware
    for key in ("edge_hardware", "sizes"):
        if more.get(key) is not None:
            more[key] = tuple(_names(more[key], key))
    if more.get("rate") is not None:
        from ..units import parse_quantity

        more["rate"] = parse_quantity(more["rate"], "rate", "rate")
    return Options(region=region, **fields, **{k: v for k, v in more.items() if v is not None})


def _names(value: str | Iterable[str], argument: str) -> list[str]:
    items = entries(value, argument, what=argument, example="names", allow_empty=True)
    names = [str(x).strip() for x in items if str(x).strip()]
    if not names and argument != "edge_hardware":  # no edge devices: the page leaves the edge table out
        raise InputError("give at least one entry (a list or a comma-separated string)", argument=argument)
    return names


def build_report(models: str | Iterable[str] | None = None, *, hardware: str | None = None,
                 variants: str | Iterable[str] | None = None, region: str | None = None,
                 regions: str | Iterable[str] | None = None, rate: Any = None,
                 command: str = "costmodel.write_report()", **options: Any) -> str:
    """The report's HTML as a string (see :func:`write_report` for the arguments)."""
    from ..calibration import provenance
    from .figures import svg
    from .planning import sizes_section, variants_section
    from .sections import carbon_section, serving_section, training_section
    from .sources import assumptions, sources

    env = _environment()  # jinja2 missing fails before any work
    o = _options(models, hardware, variants, region, regions, rate=rate, **options)
    sections = [training_section(o), serving_section(o), sizes_section(o), variants_section(o), carbon_section(o)]
    svgs = {f.key: _markup(svg(f)) for s in sections for f in s.figures}
    return env.get_template("report.html.j2").render(
        title="What training and serving these models costs", sections=sections, svgs=svgs,
        assumptions=assumptions(o), sources=sources(o), provenance=provenance(), command=command,
        date=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


def _markup(text: str):
    from markupsafe import Markup

    return Markup(text)


def write_report(out: str | os.PathLike, models: str | Iterable[str] | None = None, *, hardware: str | None = None,
                 variants: str | Iterable[str] | None = None, region: str | None = None,
                 regions: str | Iterable[str] | None = None, rate: Any = None, **options: Any) -> str:
    """Write the report to ``out`` (one self-contained HTML file) and return its path.

    Parameters
    ----------
    out : path
        The HTML file; its folder must exist. The page is written to a temporary file in the
        same folder and renamed, so a failure leaves no partial file.
    models : ids, optional
        Catalog ids (a list or a comma-separated string); default :data:`DEFAULT_MODELS`, a
        2-parameter linear regression to a GPT-4-scale mixture of experts.
    hardware : str, optional
        Training hardware (default H100 SXM5), on ``n_gpus`` devices (default 1024).
    variants : names, optional
        The compression levers shown beside ``variant_model`` (default: gpt2-xl with
        :data:`costmodel.variants.DEFAULT_VARIANTS`).
    region : str, optional
        Grid of the training and serving tables (default: world average).
    regions : ids, optional
        Grids the carbon section compares (default :data:`DEFAULT_REGIONS`).
    rate : Quantity [1/s], optional
        A total request rate (``"12/s"``): each language model is then served in the datacenter
        by :func:`costmodel.plan_serving` at that rate within the interactive SLA (p99 TTFT 1 s,
        p99 TPOT 50 ms). Without it, one replica at the largest rate that meets the same SLA.
    **options
        Other fields of :class:`Options`: ``n_gpus``, ``serve_hardware``, ``edge_hardware``,
        ``prompt_tokens``, ``output_tokens``, ``batch_size``, ``edge_batch_size``,
        ``carbon_model``, ``variant_model``, ``budget``, ``sizes``, ``inference_tokens``.
    """
    path = os.fspath(out)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f"the folder {os.path.dirname(path) or folder!r} does not exist", argument="out")
    if os.path.isdir(path):
        raise InputError(f"{path!r} is a folder; give a file name in it", argument="out")
    unknown = set(options) - {f.name for f in dataclasses.fields(Options)} - {"command"}
    if unknown:
        raise InputError(f"unknown report option(s): {', '.join(sorted(unknown))}", argument="options")
    html = build_report(models, hardware=hardware, variants=variants, region=region, regions=regions, rate=rate,
                        **options)
    return write_whole(path, lambda scratch: Path(scratch).write_text(html, encoding="utf-8"), argument="out")
