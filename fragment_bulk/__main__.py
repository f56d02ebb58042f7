"""``python -m fragment_bulk`` and the ``fragment-bulk`` command.

The command line is loaded inside :func:`main`, so that a Ctrl-C pressed while pandas and httpx
load (a few hundred milliseconds) is one line and exit 130 like any other, not a traceback.
"""

from __future__ import annotations

import sys

from fragment_bulk.interrupts import EXIT_INTERRUPTED


def main() -> None:
    try:
        from fragment_bulk.cli import main as command_line
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted while starting; nothing was sent\n")
        raise SystemExit(EXIT_INTERRUPTED) from None
    command_line(prog_name="fragment-bulk")


if __name__ == "__main__":
    main()
