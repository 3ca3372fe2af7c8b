"""`python -m conductor.cli`: the `conductor` command."""

from conductor.cli import entry

entry()
