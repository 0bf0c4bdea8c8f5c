"""``python -m costmodel.cli``: the same as the ``costmodel`` command."""

from . import main

if __name__ == "__main__":  # pragma: no cover
    main(prog_name="costmodel")
