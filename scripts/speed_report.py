"""Write the README's Speed table from the benchmark scripts' results (benchmarks/results/*.json).

    python scripts/speed_report.py           # print the markdown
    python scripts/speed_report.py --write   # replace the marked section of README.md

Each script in benchmarks/ writes its results file when run with ``--write``; this renders
them, with the machine and date each ran on. tests/test_readme.py fails when README.md differs
from what this script writes.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from readme_sections import main, replace_section  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
# the order of the table; a results file not listed comes after these, by name
ORDER = ("bench_estimate", "bench_sweep", "bench_stream_1e8", "bench_stream_1e9", "bench_startup", "bench_report")
SECTION = "speed"


def load(folder: Path = RESULTS) -> list[dict]:
    """The results files, in the table's order."""
    found = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
    names = [n for n in ORDER if n in found] + sorted(n for n in found if n not in ORDER)
    return [found[n] for n in names]


def _machine(m: dict) -> str:
    memory = f", {m['memory_GiB']:g} GiB of memory" if m.get("memory_GiB") else ""
    return (f"{m['cpu']}, {m['cores']} logical cores{memory}, {m['os']}; Python {m['python']}, numpy {m['numpy']}, "
            f"pandas {m['pandas']}, pint {m['pint']}")


def _cell(text: str | None) -> str:
    """A table cell: pipes escaped, exponents written short (``2.83e+06`` as ``2.83e6``)."""
    if text is None:
        return "–"
    return re.sub(r"e([+-])0*(\d)", lambda m: "e" + ("-" if m.group(1) == "-" else "") + m.group(2),
                  str(text)).replace("|", "\\|")


def table(results: list[dict]) -> str:
    """The markdown: one line per machine, then one row per figure."""
    machines: dict[str, int] = {}
    for r in results:
        machines.setdefault(_machine(r["machine"]), len(machines) + 1)
    lines = []
    for text, number in machines.items():
        label = "Machine" if len(machines) == 1 else f"Machine {number}"
        lines.append(f"{label}: {text}.")
        lines.append("")
    lines.append("| what | measured: median (lowest-highest) | target | met | peer | command, date" +
                 ("" if len(machines) == 1 else ", machine") + " |")
    lines.append("|---|---|---|---|---|---|" + ("" if len(machines) == 1 else "---|"))
    for r in results:
        where = "" if len(machines) == 1 else f" | {machines[_machine(r['machine'])]}"
        commit = f", at {r['machine']['commit']}" if r["machine"].get("commit") else ""
        for x in r["rows"]:
            met = {True: "yes", False: "**no**", None: "–"}[x["met"]]
            lines.append(f"| {_cell(x['what'])} | {_cell(x['measured'])} | {_cell(x['target'])} | {met} | "
                         f"{_cell(x['peer'])} | `{x['command']}`, {r['date']}{commit}{where} |")
    return "\n".join(lines)


def render(readme: str, folder: Path = RESULTS) -> str:
    """``readme`` with its marked Speed section rendered from the results in ``folder``."""
    return replace_section(readme, SECTION, table(load(folder)))


if __name__ == "__main__":
    main(render, __doc__.splitlines()[0])
