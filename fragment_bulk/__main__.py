"""``python -m fragment_bulk``: the same as the ``fragment-bulk`` command."""

from fragment_bulk.cli import main

main(prog_name="fragment-bulk")
