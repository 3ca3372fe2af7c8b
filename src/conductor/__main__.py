"""`python -m conductor`: the `conductor` command (also as `torchrun ... -m conductor train`)."""

from conductor.cli import entry

entry()
