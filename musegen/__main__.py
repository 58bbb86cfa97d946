"""``python -m musegen``: the command line."""

from musegen.cli import main

main()
