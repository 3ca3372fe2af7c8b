"""Run a live session: the clock, the web page, OSC and OSCQuery, in one asyncio loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from conductor.errors import ConductorError
from conductor.server.midi import MidiControl
from conductor.server.osc import OscBridge, oscquery_app
from conductor.server.web import create_app
from conductor.session import Session

__all__ = ["Endpoints", "serve"]


@dataclass
class Endpoints:
    url: str
    osc: tuple[str, int] | None
    oscquery: str | None


def _uvicorn(app: FastAPI, host: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    return uvicorn.Server(config)


async def serve(
    session: Session,
    host: str = "127.0.0.1",
    port: int = 8765,
    osc_port: int | None = 9000,
    oscquery_port: int | None = None,
    token: str | None = None,
    on_ready: Callable[[Endpoints], None] | None = None,
    midi: MidiControl | None = None,
    midi_in: str | None = None,
) -> None:
    """Serve until cancelled (Ctrl-C). Port 0 picks a free port; `osc_port=None` turns OSC off."""
    if host not in ("127.0.0.1", "localhost", "::1") and not token:
        raise ConductorError(f"--host {host} exposes the session beyond this machine: add --token")
    if midi is not None and midi_in is not None:
        midi.open(midi_in, asyncio.get_running_loop())  # fails before anything listens
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    web = _uvicorn(create_app(session, token), host, port)
    tasks = [asyncio.create_task(web.serve(), name="web")]
    bridge: OscBridge | None = None
    query: uvicorn.Server | None = None
    osc_address = None
    try:
        if osc_port is not None:
            bridge = OscBridge(session, token, remote_subscribers=token is not None)
            try:
                osc_address = await bridge.start(host, osc_port)
            except OSError as error:
                raise ConductorError(
                    f"cannot listen for OSC on {host}:{osc_port}: {error.strerror}"
                ) from None
            query_port = oscquery_port if oscquery_port is not None else osc_address[1] + 1
            query = _uvicorn(oscquery_app(bridge, osc_address[1]), host, query_port)
            tasks.append(asyncio.create_task(query.serve(), name="oscquery"))
        while not web.started:
            if tasks[0].done():  # uvicorn gave up (it exits on a port in use)
                raise ConductorError(f"cannot serve the page on {host}:{port}: is the port in use?")
            await asyncio.sleep(0.02)
        if query is not None:
            while not query.started and not tasks[-1].done():
                await asyncio.sleep(0.02)
        bound = web.servers[0].sockets[0].getsockname()[1] if web.servers else port
        endpoints = Endpoints(
            url=f"http://{host}:{bound}/",
            osc=osc_address,
            oscquery=(
                f"http://{host}:{query.servers[0].sockets[0].getsockname()[1]}/"
                if query is not None and query.servers
                else None
            ),
        )
        if on_ready is not None:
            on_ready(endpoints)
        tasks.append(asyncio.create_task(session.run(), name="clock"))
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    finally:
        web.should_exit = True
        if query is not None:
            query.should_exit = True
        session.close()
        if midi is not None:
            midi.close()
        if bridge is not None:
            bridge.close()
        for task in tasks:
            if not task.done():
                task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, SystemExit, Exception):
                await task
