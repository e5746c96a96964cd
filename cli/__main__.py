"""`python -m cli ...`, the same as `escrow ...`."""

from cli import command

command()
