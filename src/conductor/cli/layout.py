"""`conductor layout`: an Open Stage Control session for an ensemble's OSC address space."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from conductor.checkpoint import atomic_write_bytes
from conductor.cli._common import OSC_PORT, add_styles_args, console
from conductor.errors import ConductorError
from conductor.library import DEFAULT_STYLES, resolve_styles, style_name


def add_parser(commands: Any) -> None:
    layout = commands.add_parser(
        "layout",
        help="write an Open Stage Control session (faders, pad, controls) for serve's OSC",
        description="An Open Stage Control session generated from the OSC address table that "
        "serve answers (and OSCQuery describes): load it in Open Stage Control to conduct.",
    )
    add_styles_args(layout)
    layout.add_argument("--osc-host", default="127.0.0.1", help="where serve's OSC listens")
    layout.add_argument("--osc-port", type=OSC_PORT, default=9000, help="serve's --osc-port")
    layout.add_argument("--token", help="serve's --token (sent before every value)")
    layout.add_argument("--out", help="write the session here (default: standard output)")
    layout.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from conductor.server.osc import address_table
    from conductor.server.osc.layout import open_stage_control, to_text

    if args.osc_port <= 0:
        raise ConductorError("--osc-port: give the port serve's OSC listens on (1 to 65535)")
    paths = resolve_styles(args.styles or DEFAULT_STYLES, args.styles_dir)
    names = [style_name(path) for path in paths]
    session = open_stage_control(
        address_table(names), f"{args.osc_host}:{args.osc_port}", args.token
    )
    text = to_text(session)
    if args.out is None:
        sys.stdout.write(text)
        return 0
    atomic_write_bytes(Path(args.out), text.encode())
    console.print(f"wrote {args.out}: open it in Open Stage Control (File → Open session)")
    return 0
