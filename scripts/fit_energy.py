"""Fit the training power model on measured energy figures and write its [fitted] block.

    python scripts/fit_energy.py            # print the fit and its leave-one-source-out figures
    python scripts/fit_energy.py --write    # also rewrite [fitted] in costmodel/data/energy_defaults.toml

The model (costmodel/energy.py): power per device under training load, before PUE,

    P_it = draw_fraction x TDP + host_share x headroom,   headroom = system max power / devices - TDP

with the headroom from the server specifications in [host_power_per_gpu.systems] (a device with
no listed system: headroom_ratio x TDP, the listed systems' median). Only rows of
tests/data/energy_runs.csv whose figure was measured or metered (``kind``) and that publish the
accelerator-hours are fitted: a figure computed as TDP x hours x PUE tests that formula, not the
power. Each row gives a measured power per device at the level its ``covers`` column names
(device only, or devices and servers; a facility figure is divided by its published PUE), and
the fit minimises the squared ln errors, one vote per source (``group``).

Leave-one-source-out (LOSO): each source is predicted by the fit to the others. Its errors give
the range of power per device (their 10th and 90th percentiles with one vote per source, as in
the fit: ``power_resid_q10/q90``) and the
figures printed: the energy error, coverage and width given the published hours, and end to end
(the training model's hours, its calibrated spread combined with the power spread).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import math
import re
import statistics
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from costmodel import get_hardware  # noqa: E402
from costmodel.energy import resolve_footprint  # noqa: E402
from costmodel.energy_defaults import systems, training_power  # noqa: E402
from costmodel.energy_validation import MEASURED, energy_scenarios, energy_target  # noqa: E402
from costmodel.validation import published_hours, read_cases  # noqa: E402

TABLE = ROOT / "tests" / "data" / "energy_runs.csv"
OUT = ROOT / "costmodel" / "data" / "energy_defaults.toml"
DRAW_GRID = np.linspace(0.20, 1.20, 501)
SHARE_GRID = np.linspace(0.0, 1.50, 751)


def headroom_ratio() -> float:
    """Median (system max power / devices - TDP) / TDP over the listed systems (each system
    once, however many device ids it lists)."""
    seen = {(round(w, 6), get_hardware(h).number("tdp")) for h, w in systems().items()}
    return statistics.median(w / tdp - 1.0 for w, tdp in seen)


def headroom(hw_id: str, tdp: float, ratio: float) -> float:
    per_device = systems().get(hw_id)
    return max(per_device - tdp, 0.0) if per_device is not None else ratio * tdp


def power_rows(rows, ratio: float) -> list[dict]:
    """Measured rows with published hours: measured power per device [W] and the model's terms."""
    out = []
    for row in rows:
        hours = published_hours(row)
        if row["kind"] not in MEASURED or hours is None or not row.get("published_energy_MWh"):
            continue
        watts = float(row["published_energy_MWh"]) * 1e6 / hours
        if row["covers"] == "facility":
            watts /= float(row["pue"])
        hw = get_hardware(row["hardware"])
        tdp = hw.number("tdp")
        out.append({"row": row, "group": row["group"], "watts": watts, "tdp": tdp, "hw": hw.id,
                    "level": "device" if row["covers"] == "device" else "it",
                    "headroom": 0.0 if row["covers"] == "device" else headroom(hw.id, tdp, ratio)})
    return out


def measured_from(points: list[dict]) -> dict[str, tuple[list[str], list[str]]]:
    """Per device with a measurement, the sources and runs behind it."""
    out: dict[str, tuple[list[str], list[str]]] = {}
    for p in points:
        groups, runs = out.setdefault(p["hw"], ([], []))
        groups += [] if p["group"] in groups else [p["group"]]
        runs.append(p["row"]["run"])
    return out


def fit(points: list[dict], tied: bool = True) -> tuple[float, float]:
    """(draw_fraction, host_share) minimising the squared ln errors, one vote per source.

    ``tied``: one share for the device and its server (the node draws that share of its
    nameplate); else the host share is a second free constant."""
    counts = Counter(p["group"] for p in points)
    w = np.array([1.0 / counts[p["group"]] for p in points])
    watts, tdp, room = (np.array([p[k] for p in points]) for k in ("watts", "tdp", "headroom"))
    if tied:
        loss = (w * (np.log(watts) - np.log(DRAW_GRID[:, None] * (tdp + room))) ** 2).sum(axis=-1)
        best = float(DRAW_GRID[np.argmin(loss)])
        return best, best
    pred = DRAW_GRID[:, None, None] * tdp + SHARE_GRID[None, :, None] * room
    loss = (w * (np.log(watts) - np.log(np.maximum(pred, 1e-9))) ** 2).sum(axis=-1)
    if not np.any(room > 0):  # no row constrains the host share: keep the smallest
        loss = loss[:, :1]
    i, j = np.unravel_index(np.argmin(loss), loss.shape)
    return float(DRAW_GRID[i]), float(SHARE_GRID[j])


def measured_table(points: list[dict], without: str | None = None) -> dict[str, tuple[float, float]]:
    """Per device, its measured power under training load (device only, and with its share of
    the server, NaN where none): the median over sources of each source's median, from the
    sources other than ``without``."""
    by: dict[tuple[str, str], dict[str, list[float]]] = {}
    for p in points:
        if p["group"] != without:
            by.setdefault((p["hw"], p["level"]), {}).setdefault(p["group"], []).append(p["watts"])
    level = {k: float(np.median([np.median(v) for v in g.values()])) for k, g in by.items()}
    return {hw: (level.get((hw, "device"), math.nan), level.get((hw, "it"), math.nan)) for hw, _ in by}


def predict(p: dict, draw: float, share: float, table: dict) -> float:
    """The modelled power per device at the row's level: the measured figures of ``table``
    where it has the device (costmodel.energy_defaults.training_power), else the fit's."""
    if p["hw"] not in table:  # the fit's own terms (its headroom ratio, as fit() weighs them)
        return draw * p["tdp"] + share * p["headroom"]
    busy, host = training_power(p["hw"], p["tdp"], draw=draw, share=share, spread=(1.0,), measured=table[p["hw"]])
    return busy[0] * p["tdp"] + (host[0] if p["level"] == "it" else 0.0)


def loso(points: list[dict], tied: bool = True) -> dict[str, tuple[float, float]]:
    """The fit without each source, by source."""
    return {g: fit([p for p in points if p["group"] != g], tied) for g in sorted({p["group"] for p in points})}


def loso_tables(points: list[dict]) -> dict[str, dict]:
    """The measured table without each source, by source."""
    return {g: measured_table(points, g) for g in sorted({p["group"] for p in points})}


def loso_residuals(points: list[dict], held: dict[str, tuple[float, float]], tables: dict[str, dict]) -> np.ndarray:
    """ln(measured / modelled power per device), each source modelled without its own rows:
    the fit without it, and the other sources' measurements of the same device."""
    return np.array([np.log(p["watts"] / predict(p, *held[p["group"]], tables[p["group"]])) for p in points])


def source_quantiles(points: list[dict], resid: np.ndarray, qs=(0.1, 0.9)) -> tuple[float, ...]:
    """Quantiles of the LOSO residuals with one vote per source (each row weighs 1 / its
    source's row count), as the fit weighs them: a source with many rows (a benchmark round's
    dozen results) does not narrow the range that a source with few rows would need."""
    counts = Counter(p["group"] for p in points)
    w = np.array([1.0 / counts[p["group"]] for p in points])
    order = np.argsort(resid)
    x, w = resid[order], w[order]
    cum = (np.cumsum(w) - 0.5 * w) / w.sum()  # the midpoint plotting positions of the weighted sample
    return tuple(float(np.interp(q, cum, x)) for q in qs)


def source_median(rows_scored: list[tuple[str, float]]) -> float:
    """Median over sources of each source's median |error| (every source one vote)."""
    by: dict[str, list[float]] = {}
    for g, e in rows_scored:
        by.setdefault(g, []).append(abs(e))
    return float(np.median([np.median(v) for v in by.values()]))


def _footprint_of(draw: float, share: float, q10: float, q90: float, table: dict):
    """Default footprint inputs with these constants and measurements (the draw and host ends
    at the spread), through the estimator's own costmodel.energy_defaults.training_power."""
    spread = (1.0, float(np.exp(q10)), float(np.exp(q90)))

    def footprint_of(hw, grid=None):
        f, _ = resolve_footprint(hw, grid_intensity=grid)
        busy, host = training_power(hw.id, hw.number("tdp"), draw=draw, share=share, spread=spread,
                                    measured=table.get(hw.id, (math.nan, math.nan)))
        return dataclasses.replace(f, busy=np.array(busy), host_w=np.array(host))
    return footprint_of


def score(rows, constants: dict[str, tuple[float, float]], tables: dict[str, dict], q10: float, q90: float,
          mode: str, kinds=MEASURED, nested: dict[str, tuple[float, float]] | None = None) -> dict:
    """Median |error|, coverage and median width of energy figures, each row's source predicted
    with the constants fitted and the measurements taken without it (``constants[group]``,
    ``tables[group]``; the full fit and table for other sources). With ``nested`` (per source,
    the power spread from the other sources' residuals alone), ``nested_coverage`` is the share
    inside the range that those ends give: out of sample, where ``coverage`` scores ends that
    the row's own residual helped set."""
    errors, inside, widths, groups, out_of_sample = [], [], [], [], []
    for row in rows:
        if row["kind"] not in kinds:
            continue
        draw, share = constants.get(row["group"], constants["*"])
        grid = float(row["grid_intensity_g_per_kWh"]) if row.get("grid_intensity_g_per_kWh") else None
        table = tables.get(row["group"], tables["*"])
        ends = [(q10, q90)] + ([nested.get(row["group"], (q10, q90))] if nested else [])
        got = [energy_scenarios(row, mode, footprint_of=lambda hw, of=_footprint_of(draw, share, *q, table), grid=grid:
                                of(hw, grid)) for q in ends]
        if got[0] is None:
            continue
        published = energy_target(row)[0]  # type: ignore[index]
        typical, lo, hi = got[0]
        errors.append(typical / published - 1.0)
        groups.append(row["group"])
        inside.append(lo <= published <= hi)
        widths.append(hi / lo)
        out_of_sample += [got[-1][1] <= published <= got[-1][2]] if nested else []
    if not errors:
        return {"n": 0}
    return {"n": len(errors), "median_abs_error": float(np.median(np.abs(errors))),
            "coverage": float(np.mean(inside)), "median_width": float(np.median(widths)),
            "sources": len(set(groups)), "source_median_abs_error": source_median(list(zip(groups, errors))),
            **({"nested_coverage": float(np.mean(out_of_sample))} if nested else {})}


def nested_spreads(points: list[dict], resid: np.ndarray) -> dict[str, tuple[float, float]]:
    """Per source, the 10th/90th percentiles of the other sources' residuals (one vote each)."""
    out = {}
    for g in sorted({p["group"] for p in points}):
        keep = [i for i, p in enumerate(points) if p["group"] != g]
        out[g] = source_quantiles([points[i] for i in keep], resid[keep])
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite [fitted] in energy_defaults.toml")
    args = parser.parse_args(argv)
    rows = read_cases(TABLE)
    ratio = headroom_ratio()
    points = power_rows(rows, ratio)
    tables = loso_tables(points)
    free = loso_residuals(points, loso(points, tied=False), tables)
    draw, share = fit(points)
    held = loso(points)
    resid = loso_residuals(points, held, tables)
    table = measured_table(points)
    q10, q90 = source_quantiles(points, resid)
    row_q10, row_q90 = (float(q) for q in np.quantile(resid, [0.1, 0.9]))
    free_err, tied_err = (float(np.median(np.abs(np.expm1(-r)))) for r in (free, resid))
    print(f"host share free (a second constant): LOSO median |power error| {free_err:.3f}; tied to the draw "
          f"fraction: {tied_err:.3f}, so the tied model is used")
    print(f"fit on {len(points)} measured rows from {len(held)} sources: draw_fraction {draw:.3f}, "
          f"host_share {share:.3f}, headroom_ratio {ratio:.3f}")
    print(f"{'run':28s} {'group':22s} {'measured W':>10s} {'LOSO W':>8s} {'ln err':>7s}")
    for p, r in zip(points, resid):
        print(f"{p['row']['run']:28s} {p['group']:22s} {p['watts']:10.1f} "
              f"{predict(p, *held[p['group']], tables[p['group']]):8.1f} "
              f"{-r:7.3f}")
    print(f"power per device, LOSO ln(measured / modelled), one vote per source: q10 {q10:.3f}, q90 {q90:.3f} "
          f"(unweighted over rows: {row_q10:.3f}, {row_q90:.3f}), median |error| {tied_err:.3f}")
    constants = {**held, "*": (draw, share)}
    tables["*"] = table
    spreads = nested_spreads(points, resid)
    figures = {}
    for mode in ("hours", "e2e"):
        for kinds, label in ((MEASURED, "measured"), (("formula",), "formula")):
            s = score(rows, constants, tables, q10, q90, mode, kinds, nested=spreads)
            figures[f"{mode}_{label}"] = s
            if s["n"]:
                print(f"LOSO energy, {mode:5s}, {label:8s} rows: n {s['n']:2d}, median |error| "
                      f"{s['median_abs_error']:.3f}, coverage {s['coverage']:.2f} (nested {s['nested_coverage']:.2f}), "
                      f"median width {s['median_width']:.2f}x; "
                      f"{s['sources']} sources, median of their median |error| {s['source_median_abs_error']:.3f}")
    result = {"draw_fraction": draw, "host_share": share, "headroom_ratio": ratio, "q10": q10, "q90": q90,
              "n": len(points), "sources": len(held), "figures": figures, "power_error": tied_err,
              "groups": sorted(held), "runs": [p["row"]["run"] for p in points],
              "power_error_free_host": free_err, "measured": table, "measured_from": measured_from(points)}
    if args.write:
        write(result)
        print(f"wrote [fitted] in {OUT.relative_to(ROOT)}")
    return result


def _toml_list(items) -> str:
    """A TOML array of strings."""
    return "[" + ", ".join(f'"{x}"' for x in items) + "]"


def write(r: dict) -> None:
    f = r["figures"]

    def fig(key: str) -> str:
        s = f[key]
        return (f"median |error| {s['median_abs_error']:.3f}, coverage {s['coverage']:.2f} "
                f"(nested, the ends from the other sources alone: {s['nested_coverage']:.2f}), "
                f"median width {s['median_width']:.2f}x (n {s['n']}, {s['sources']} sources; "
                f"median over sources of their median |error| {s['source_median_abs_error']:.3f})")
    block = f'''[fitted]
draw_fraction = {r["draw_fraction"]:.4f}
host_share = {r["host_share"]:.4f}
headroom_ratio = {r["headroom_ratio"]:.4f}
power_resid_q10 = {r["q10"]:.4f}
power_resid_q90 = {r["q90"]:.4f}
fitted = "scripts/fit_energy.py on {r["n"]} measured/metered rows of tests/data/energy_runs.csv from {r["sources"]} sources, {datetime.date.today().isoformat()}"
sources = {_toml_list(r["groups"])}
runs = {_toml_list(r["runs"])}
loso_power_median_abs_error = {r["power_error"]:.4f}
loso_power_median_abs_error_free_host_share = {r["power_error_free_host"]:.4f}
loso_hours_measured = "{fig("hours_measured")}"
loso_e2e_measured = "{fig("e2e_measured")}"
loso_hours_formula = "{fig("hours_formula")}"
loso_e2e_formula = "{fig("e2e_formula")}"
note = "Training power per device before PUE, for a device with no [fitted.measured_power] = draw_fraction x TDP + host_share x (system max power / devices - TDP) ([host_power_per_gpu.systems]; headroom_ratio x TDP for a device with no listed system). Fitted on measured or metered figures only (kind = measured/metered; formula figures TDP x hours x PUE test the formula, not the power), one vote per source; power_resid_q10/q90 are the leave-one-source-out 10th/90th percentiles of ln(measured / modelled power per device), one vote per source as in the fit, the range of the draw fraction and host share (they move together: the errors are errors of their sum). The same residuals set the range and are scored, so the LOSO coverage is slightly optimistic; the nested coverage takes each source's ends from the other sources' residuals alone. [fitted.measured_power]: per device, the median over sources of each source's median measured power per device under training load, device only (device_w) and with its share of the server (it_w, a facility figure divided by its PUE), which costmodel.energy_defaults.training_power uses in place of the fit; in the leave-one-source-out figures a source's own measurements are never used to predict it. loso_* are leave-one-source-out energy figures: given the published accelerator-hours (the power model alone) and end to end (with the training model's hours and its spread)."
'''
    for hw_id, (device_w, it_w) in sorted(r["measured"].items()):
        groups, runs = r["measured_from"][hw_id]
        values = "".join(f"{k} = {v:.1f}\n" for k, v in (("device_w", device_w), ("it_w", it_w)) if v == v)
        block += (f'\n[fitted.measured_power.{hw_id}]\n{values}'
                  f'sources = {_toml_list(groups)}\nruns = {_toml_list(runs)}\n')
    text = OUT.read_text(encoding="utf-8")
    pattern = re.compile(r"^\[fitted\]\n.*?(?=^\[(?!fitted[.\]])|\Z)", re.S | re.M)
    text = pattern.sub(block + "\n", text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block
    OUT.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
