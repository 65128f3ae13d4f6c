"""``python -m keycard_serve``: the same as the ``keycard-serve`` command."""

from .cli import main

main()
