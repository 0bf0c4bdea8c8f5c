"""What the scripts that write README sections share: replacing a marked section, and the
command line (print the README as it would be, or ``--write`` it)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def replace_section(readme: str, name: str, text: str) -> str:
    """``readme`` with the lines between ``<!-- NAME -->`` and ``<!-- /NAME -->`` replaced by ``text``."""
    pattern = re.compile(rf"(<!-- {re.escape(name)} -->\n).*?(<!-- /{re.escape(name)} -->)", re.S)
    if not pattern.search(readme):
        raise SystemExit(f"README.md has no <!-- {name} --> section")
    return pattern.sub(lambda m: m.group(1) + text + "\n" + m.group(2), readme)


def main(render: Callable[[str], str], description: str) -> None:
    """Print README.md as ``render`` makes it, or with ``--write`` rewrite it."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--write", action="store_true", help="rewrite the sections of README.md")
    args = parser.parse_args()
    new = render(README.read_text())
    if args.write:
        README.write_text(new)
    else:
        print(new)
