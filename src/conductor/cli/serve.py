"""`conductor serve`: the live session (web page, OSC + OSCQuery, MIDI); `conductor replay`."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path
from typing import Any

from conductor.cli._common import (
    COUNT,
    NON_NEGATIVE,
    OSC_PORT,
    PORT,
    STYLES_DIR_HELP,
    TEMPERATURE,
    add_header_args,
    add_precision_arg,
    add_search_args,
    add_styles_args,
    add_threshold_arg,
    console,
    errors,
    number,
    parse_floats,
    parse_precision,
    search_settings,
)
from conductor.engine import Ensemble
from conductor.errors import ConductorError
from conductor.generate import Conductor
from conductor.library import (
    DEFAULT_STYLES,
    MUSIC_STYLES,
    Library,
    require_music,
    resolve_style,
    resolve_styles,
)
from conductor.mixing import DEFAULT_THRESHOLD, MIXERS, check_weights
from conductor.sampling import SamplingParams

REALTIME_NICE = -10  # `serve --realtime`: the symbol clock ahead of viewers and other work
LIVE_SWITCH_INTERVAL = 0.0005  # seconds a thread may hold the GIL while another waits (serve)


def add_parser(commands: Any) -> None:
    srv = commands.add_parser("serve", help="live session: web page, OSC, OSCQuery")
    add_styles_args(srv, music=True)
    srv.add_argument("--weights", help="starting weights (default: the first style)")
    srv.add_argument("--mixer", choices=MIXERS, default="linear", help="linear | product")
    srv.add_argument("--temperature", type=TEMPERATURE, default=0.8, help="0 = greedy")
    add_threshold_arg(srv, DEFAULT_THRESHOLD)
    srv.add_argument(
        "--rate", type=number(float, 0, 10_000, "a rate is"), default=20.0,
        help="symbols/s, 0 = free",
    )  # fmt: skip
    srv.add_argument("--slew", type=NON_NEGATIVE, default=0.0, help="weight glide, seconds")
    srv.add_argument("--prime", help="text to start from")
    srv.add_argument("--seed", type=int, default=0, help="the sampler's seed")
    add_precision_arg(srv)
    add_search_args(srv)
    srv.add_argument(
        "--realtime",
        action="store_true",
        help=f"run at a higher scheduling priority (nice {REALTIME_NICE}), so the symbol clock "
        "keeps time on a busy machine (needs root or CAP_SYS_NICE)",
    )
    srv.add_argument("--host", default="127.0.0.1", help="bind address")
    srv.add_argument("--port", type=PORT, default=8765, help="web port (0: any free one)")
    srv.add_argument("--osc-port", type=OSC_PORT, default=9000, help="OSC UDP port, -1 = off")
    srv.add_argument("--oscquery-port", type=PORT, help="OSCQuery HTTP port (OSC port + 1)")
    srv.add_argument("--token", help="required on WS and OSC; needed for any --host but local")
    srv.add_argument(
        "--tls-cert", metavar="PEM",
        help="serve the page over HTTPS with this certificate (with --tls-key): a phone's "
        "browser gives the page its tilt and motion only over HTTPS",
    )  # fmt: skip
    srv.add_argument("--tls-key", metavar="PEM", help="the certificate's private key")
    srv.add_argument(
        "--advertise", nargs="?", const="conductor", metavar="NAME",
        help="announce OSCQuery (_oscjson._tcp) and OSC (_osc._udp) over mDNS as NAME, so "
        "ossia score, Chataigne, VDMX and TouchOSC find this server (needs a --host other "
        "machines reach, and --token; default NAME: conductor)",
    )  # fmt: skip
    srv.add_argument(
        "--wek-port", type=PORT,
        help="also listen for OSC here, as Wekinator does (6448: where FaceOSC, LeapMotion and "
        "phone bridges send /wek/inputs)",
    )  # fmt: skip
    srv.add_argument("--presets", help="JSON file to keep presets in")
    srv.add_argument(
        "--mappings", default="mappings",
        help="directory the learnt mappings are saved in and loaded from (default ./mappings)",
    )  # fmt: skip
    srv.add_argument("--midi-in", help="MIDI input port name: controllers steer the weights")
    srv.add_argument("--midi-map", help="JSON CC→style map (learned bindings are saved here)")
    srv.add_argument(
        "--midi-inputs", metavar="CC,CC,...",
        help="these controllers (in order, value/127) are the learnt mapping's input vector",
    )  # fmt: skip
    srv.add_argument("--record", help="write every command with its step to this file")
    music = srv.add_argument_group("music: play the tune the ABC styles write, bar by bar")
    music.add_argument(
        "--music", action="store_true", help=f"on (styles default to {','.join(MUSIC_STYLES)})"
    )
    add_header_args(music)
    music.add_argument(
        "--ahead-bars", type=number(float, 0.25, 64, "give"), default=1.0,
        help="how far generation runs ahead, in bars",
    )  # fmt: skip
    music.add_argument(
        "--no-fit-meter", action="store_true",
        help="show and play every bar as first written (by default a bar that does not fit "
        "the meter is taken back and written again, unseen)",
    )  # fmt: skip
    music.add_argument("--midi-out", help="also play the notes on this MIDI output port")
    srv.set_defaults(func=run)

    rep = commands.add_parser("replay", help="re-run a --record file; checks it is identical")
    rep.add_argument("record", help="the JSON-lines file that serve --record wrote")
    rep.add_argument("--styles-dir", help=STYLES_DIR_HELP)
    rep.add_argument("--chars", type=COUNT, default=0, help="extra steps if it has no end mark")
    rep.set_defaults(func=run_replay)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from conductor.music import ChordGrid, TuneHeader
    from conductor.performance import MusicOptions, Performance
    from conductor.server.midi import MidiControl, MidiOut, load_mapping
    from conductor.server.run import Endpoints, Tls, check_free, check_options, serve
    from conductor.session import Session

    styles = args.styles or (MUSIC_STYLES if args.music else DEFAULT_STYLES)
    paths = resolve_styles(styles, args.styles_dir)
    performer = None
    if args.music:
        require_music(paths, "--music")
        header = TuneHeader(meter=args.meter, unit=args.unit, key=args.key, title=args.title)
        fit = not args.no_fit_meter
        grid = ChordGrid.parse(args.chords, args.key) if args.chords else None
        options = MusicOptions(
            header, args.tempo, args.ahead_bars, fit, grid, not args.no_fit_chords
        )
        performer = Performance(options)
    elif args.midi_out:
        raise ConductorError("--midi-out plays the tune: add --music")
    elif args.chords:
        raise ConductorError("--chords shapes the tune: add --music")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise ConductorError("--tls-cert and --tls-key go together: give both, or neither")
    tls = Tls(Path(args.tls_cert), Path(args.tls_key)) if args.tls_cert else None
    if tls is not None:
        tls.check()  # before the models load
    osc_port = None if args.osc_port < 0 else args.osc_port
    check_options(args.host, args.token, osc_port, args.advertise)  # before the models load
    check_free(args.host, args.port, "the page")
    ensemble = Ensemble.from_checkpoints(paths, precision=parse_precision(args.precision))
    params = SamplingParams(temperature=args.temperature)
    conductor = Conductor(ensemble, args.mixer, params, args.seed, args.threshold)
    conductor.search = search_settings(args)
    weights = parse_floats(args.weights, "--weights") if args.weights else None
    if weights is not None:
        check_weights(weights, len(ensemble), args.mixer)
    session = Session(
        conductor,
        weights,
        rate=args.rate,
        slew=args.slew,
        presets_file=Path(args.presets) if args.presets else None,
        record=Path(args.record) if args.record else None,
        style_paths=[str(p) for p in paths],
        performer=performer,
        library=Library(args.styles_dir),
        mappings_dir=Path(args.mappings),
    )
    if args.midi_out:
        midi_out = MidiOut.open(args.midi_out)  # a one-line error where there is no MIDI
        session.add_sink(midi_out)
    if args.prime:
        session.submit({"type": "prime", "text": args.prime})
    midi = None
    if args.midi_in:
        map_file = Path(args.midi_map) if args.midi_map else None
        mapping, channel = (
            load_mapping(map_file, ensemble.names)
            if map_file is not None and map_file.exists()
            else ({}, None)
        )
        inputs = _controllers(args.midi_inputs) if args.midi_inputs else None
        midi = MidiControl(session, mapping, channel, map_file, inputs)
    elif args.midi_inputs:
        raise ConductorError("--midi-inputs reads controllers: add --midi-in PORT")

    if args.realtime:
        raise_priority()
    # The engine thread's idle work is a run of short torch calls; with CPython's 5 ms switch
    # interval a socket write waiting for the GIL could wait that long behind it.
    sys.setswitchinterval(LIVE_SWITCH_INTERVAL)

    def ready(endpoints: Endpoints) -> None:
        console.print(f"conductor is live: [bold]{endpoints.url}[/bold]", highlight=False)
        if endpoints.osc:
            console.print(
                f"OSC: udp://{endpoints.osc[0]}:{endpoints.osc[1]}  "
                f"(OSCQuery {endpoints.oscquery})",
                highlight=False,
            )
        if endpoints.wekinator:
            console.print(
                f"Wekinator's port: udp://{endpoints.wekinator[0]}:{endpoints.wekinator[1]} "
                "(/wek/inputs f..., /wek/outputs f...)",
                highlight=False,
            )
        if endpoints.advertised:
            console.print(f"announced: {', '.join(endpoints.advertised)}", highlight=False)
        console.print(f"styles: {', '.join(ensemble.names)} — Ctrl-C stops", highlight=False)
        more = [s.name for s in session.library.catalogue() if s.name not in session.names]
        if more:
            console.print(
                f"library: {len(more)} more to add live (the page's library, or "
                f"/conductor/load NAME): {', '.join(more)}",
                highlight=False,
            )

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve(
                session,
                host=args.host,
                port=args.port,
                osc_port=osc_port,
                oscquery_port=args.oscquery_port,
                token=args.token,
                on_ready=ready,
                midi=midi,
                midi_in=args.midi_in,
                advertise=args.advertise,
                wek_port=args.wek_port,
                tls=tls,
            )
        )
    if args.record:
        console.print(f"recorded → {args.record} (conductor replay {args.record})")
    return 0


def _controllers(text: str) -> list[int]:
    """`--midi-inputs 1,2,3` → [1, 2, 3], or one line that says what is wrong."""
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise ConductorError(
            f"--midi-inputs {text!r}: give controller numbers 0-127, comma-separated (1,2,3)"
        ) from None


def raise_priority() -> None:
    """Ask the OS to schedule this process ahead of ordinary ones (`serve --realtime`): on a
    busy machine the clock's thread otherwise waits for a core, and symbols come late. Only
    the niceness changes; refused (no root / CAP_SYS_NICE), say so and go on."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, REALTIME_NICE)
    except (AttributeError, OSError) as error:  # no setpriority here; EPERM
        why = getattr(error, "strerror", None) or "not supported here"
        errors.print(
            f"--realtime: cannot raise the priority ({why}; needs root or CAP_SYS_NICE): "
            "running at normal priority",
            highlight=False,
            soft_wrap=True,
        )


def run_replay(args: argparse.Namespace) -> int:
    from conductor.session import replay

    result = replay(
        Path(args.record),
        lambda styles: [
            Path(s) if Path(s).exists() else resolve_style(Path(s).stem, args.styles_dir)
            for s in styles
        ],
        extra_steps=args.chars,
    )
    console.print(result.text, highlight=False, markup=False)
    if result.matches is True:
        console.print(f"[green]replayed {result.steps} steps: identical to the recording[/green]")
    elif result.matches is False:
        raise ConductorError(f"replay of {args.record} differs from the recording")
    else:
        console.print("[yellow]the recording has no end mark (the session did not close)[/]")
    return 0
