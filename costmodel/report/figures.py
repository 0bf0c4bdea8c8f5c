"""The report's pictures: each :class:`~.content.Figure` drawn by matplotlib into an
in-memory SVG, inlined in the page with a ``<title>``, a ``<desc>`` and an ``aria-label``.

Text stays text (``svg.fonttype = "none"``): the page is smaller, and screen readers and
search find the labels. The XML prologue, DOCTYPE and RDF metadata matplotlib writes are
dropped: an inline ``<svg>`` needs none of them, and they name URLs a reader might take
for fetches.
"""

from __future__ import annotations

import io
import re
from html import escape

from .content import Figure, Panel

__all__ = ["svg"]

_PROLOGUE = re.compile(r"^.*?(?=<svg\b)", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_OPEN = re.compile(r"<svg\b([^>]*)>")


# Where a point's label may go, in points from the marker (the text's lower corner), tried in
# turn: beside it on the right, on the left, then above and below, then further out.
PLACES = ((6, -3, "left"), (-6, -3, "right"), (3, 4, "left"), (-3, 4, "right"), (3, -10, "left"),
          (-3, -10, "right"), (3, 12, "left"), (-3, 12, "right"), (3, -18, "left"), (-3, -18, "right"))
LABEL_SIZE = 7  # pt


def _label(ax, points) -> None:
    """Label each point at the first place (:data:`PLACES`) where its text overlaps no label
    already placed, no other marker and stays inside the axes; where none is free, the place
    that overlaps least. Text extents are estimated (0.6 em per character), not measured: a
    renderer pass would double the drawing time."""
    ax.autoscale_view()
    scale = ax.figure.dpi / 72.0
    pad = 1.5 * scale  # room between two labels
    to_px = ax.transData.transform
    box = ax.get_window_extent()
    marker = [(x - 4 * scale, y - 4 * scale, x + 4 * scale, y + 4 * scale)
              for x, y in (to_px((p.x, p.y)) for p in points)]
    placed: list[tuple[float, float, float, float]] = []

    def overlap(a, b) -> float:
        return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))

    for p in sorted(points, key=lambda q: q.x):
        x, y = to_px((p.x, p.y))
        w, h = 0.6 * LABEL_SIZE * len(p.label) * scale, LABEL_SIZE * scale
        best: tuple[float, tuple[float, float, float, float], int, int, str] | None = None
        for dx, dy, ha in PLACES:
            left = x + dx * scale - (w if ha == "right" else 0.0)
            rect = (left - pad, y + dy * scale - pad, left + w + pad, y + dy * scale + h + pad)
            text = (rect[0] + pad, rect[1] + pad, rect[2] - pad, rect[3] - pad)
            outside = w * h - overlap(text, (box.x0, box.y0, box.x1, box.y1))
            others = [m for m, q in zip(marker, points) if q is not p]
            cost = sum(overlap(rect, r) for r in (*placed, *others)) + 2 * outside
            if best is None or cost < best[0]:
                best = (cost, rect, dx, dy, ha)
            if cost == 0:
                break
        assert best is not None  # PLACES is not empty
        _, rect, dx, dy, ha = best
        placed.append(rect)
        ax.annotate(p.label, (p.x, p.y), textcoords="offset points", xytext=(dx, dy), fontsize=LABEL_SIZE, ha=ha)


def _room(set_limits, values: list, scale: str) -> None:
    """Limits around a panel's one value (one point, or points equal but for rounding, such as
    costs that a fixed budget sets), which matplotlib would otherwise widen itself with a
    warning: a factor of 2 either side on a log axis, half the value (or 1) on a linear one."""
    numbers = [float(v) for v in values if isinstance(v, (int, float))]
    if not numbers or max(numbers) - min(numbers) > 1e-9 * max(abs(max(numbers)), abs(min(numbers))):
        return
    v = max(numbers)
    if scale == "log" and v > 0:
        set_limits(v / 2.0, v * 2.0)
    elif scale != "log":
        half = abs(v) / 2.0 or 1.0
        set_limits(v - half, v + half)


def _draw(ax, panel: Panel) -> None:
    series = list(dict.fromkeys(p.series for p in panel.points))
    for i, name in enumerate(series):
        points = [p for p in panel.points if p.series == name and p.y is not None]
        xs, ys = [p.x for p in points], [p.y for p in points]
        style = dict(marker="os^Dv"[i % 5], label=name or None)
        if panel.xscale == "log" and name:
            ax.plot(xs, ys, linestyle="-", **style)
        else:
            ax.plot(xs, ys, linestyle="none", **style)
        ranged = [p for p in points if p.low is not None and p.high is not None]
        if ranged:
            ax.vlines([p.x for p in ranged], [p.low for p in ranged], [p.high for p in ranged],
                      color=ax.lines[-1].get_color(), linewidth=1.5)
    for x, label in panel.marks:
        ax.axvline(x, linestyle="--", linewidth=1, color="0.35")
        ax.annotate(label, (x, 0.97), xycoords=("data", "axes fraction"), rotation=90, fontsize=7, ha="right",
                    va="top")
    if panel.xscale == "linear" and any(isinstance(p.x, str) for p in panel.points):
        ax.tick_params(axis="x", labelrotation=35, labelsize=7)
    else:
        _room(ax.set_xlim, [p.x for p in panel.points if p.y is not None], panel.xscale)
        ax.set_xscale(panel.xscale)
    _room(ax.set_ylim, [v for p in panel.points for v in (p.y, p.low, p.high) if v is not None], panel.yscale)
    ax.set_yscale(panel.yscale)
    if panel.xscale == "log":
        _label(ax, [p for p in panel.points if p.label and p.y is not None])
    ax.set_title(panel.title, fontsize=10)
    ax.set_xlabel(panel.xlabel)
    ax.set_ylabel(panel.ylabel)
    ax.grid(True, which="major", alpha=0.3)
    if any(p.series for p in panel.points) and len(series) > 1:
        ax.legend(fontsize=7, framealpha=0.8)


def svg(figure: Figure) -> str:
    """The figure as inline SVG markup, titled and described for assistive technology."""
    import matplotlib
    from matplotlib.figure import Figure as MplFigure

    n = len(figure.panels)
    cols = min(n, 3)
    rows = -(-n // cols)
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "costmodel-report", "font.size": 8}):
        fig = MplFigure(figsize=(max(3.6 * cols, 6.4), 3.2 * rows))
        for ax, panel in zip(fig.subplots(rows, cols, squeeze=False).ravel(), figure.panels):
            _draw(ax, panel)
        # fixed margins: matplotlib's constrained layout doubles the drawing time (0.9 s -> 0.4 s
        # for the six training panels), the budget of the whole page is 5 s
        words = any(isinstance(p.x, str) for panel in figure.panels for p in panel.points)
        fig.subplots_adjust(left=0.09 if cols > 1 else 0.12, right=0.98, top=1 - 0.1 / rows,
                            bottom=(0.27 if words else 0.16) / rows, wspace=0.38, hspace=0.45)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = _METADATA.sub("", _PROLOGUE.sub("", buffer.getvalue(), count=1))
    key = escape(figure.key or "figure", quote=True)
    label = escape(f"{figure.title}. {figure.caption}", quote=True)
    tail = (f' role="img" aria-labelledby="{key}-title {key}-desc" aria-label="{label}">'
            f'<title id="{key}-title">{escape(figure.title)}</title><desc id="{key}-desc">{escape(figure.caption)}</desc>')
    return _OPEN.sub(lambda m: f"<svg{m[1]}{tail}", text, count=1)
