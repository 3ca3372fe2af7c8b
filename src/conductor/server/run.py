"""Run a live session: the clock, the web page, OSC and OSCQuery, in one asyncio loop."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from fastapi import FastAPI

from conductor.errors import ConductorError
from conductor.server.advertise import (
    Advertiser,
    addresses_for,
    check_advertisable,
    services,
)
from conductor.server.midi import MidiControl
from conductor.server.osc import HostInfo, OscBridge, oscquery_app
from conductor.server.web import create_app
from conductor.session import Session

__all__ = ["BackgroundServer", "Endpoints", "Tls", "check_free", "check_options", "serve"]

T = TypeVar("T")


@dataclass
class Endpoints:
    url: str
    osc: tuple[str, int] | None
    oscquery: str | None
    advertised: list[str] = field(default_factory=list)  # the mDNS service names announced
    wekinator: tuple[str, int] | None = None  # the second OSC port (`--wek-port`), if any


def check_free(host: str, port: int, what: str) -> None:
    """One line, before anything listens, if a TCP port is taken (uvicorn would print its own
    `[Errno 98]` and exit)."""
    if port == 0:
        return
    probe = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise ConductorError(
                f"cannot serve {what} on {host}:{port}: the port is in use (another conductor "
                "serve?); stop it, or give another port (0 picks a free one)"
            ) from None
        raise ConductorError(f"cannot serve {what} on {host}:{port}: {error.strerror}") from None
    finally:
        probe.close()


def check_options(
    host: str, token: str | None, osc_port: int | None, advertise: str | None
) -> None:
    """One line for options that cannot go together (the CLI asks before loading models)."""
    if host not in ("127.0.0.1", "localhost", "::1") and not token:
        raise ConductorError(f"--host {host} exposes the session beyond this machine: add --token")
    if advertise is not None:
        check_advertisable(host)
        if osc_port is None:
            raise ConductorError("--advertise announces the OSC and OSCQuery ports: turn OSC on")


@dataclass(frozen=True)
class Tls:
    """The page over HTTPS (and its WebSocket over WSS): a phone's browser gives a page its
    tilt and motion only in a secure context."""

    certfile: Path
    keyfile: Path

    def check(self) -> None:
        for what, path in (("certificate", self.certfile), ("key", self.keyfile)):
            if not path.is_file():
                raise ConductorError(f"TLS {what} {path} is not a file: give a PEM file")


def _uvicorn(app: FastAPI, host: str, port: int, tls: Tls | None = None) -> uvicorn.Server:
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="off",
        ssl_certfile=None if tls is None else str(tls.certfile),
        ssl_keyfile=None if tls is None else str(tls.keyfile),
    )  # fmt: skip
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
    advertise: str | None = None,
    zeroconf: Any | None = None,
    wek_port: int | None = None,
    tls: Tls | None = None,
) -> None:
    """Serve until cancelled (Ctrl-C). Port 0 picks a free port; `osc_port=None` turns OSC off.

    `advertise` (an instance name) announces OSCQuery and OSC over mDNS once all listen; it
    needs OSC on and a host other machines can reach. `zeroconf` is for tests (a double).
    `wek_port` opens a second OSC endpoint, as Wekinator listens (6448), with the same addresses."""
    check_options(host, token, osc_port, advertise)
    announce_at = addresses_for(host) if advertise is not None else ()
    if midi is not None and midi_in is not None:
        midi.open(midi_in, asyncio.get_running_loop())  # fails before anything listens
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    check_free(host, port, "the page")
    if tls is not None:
        tls.check()
    try:
        web = _uvicorn(create_app(session, token), host, port, tls)
        web.config.load()  # reads the certificate now: a bad one is one line, before anything
    except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
        raise ConductorError(f"cannot serve the page over TLS: {error}") from None
    tasks = [asyncio.create_task(web.serve(), name="web")]
    bridge: OscBridge | None = None
    wek_bridge: OscBridge | None = None
    wek_address = None
    host_info: HostInfo | None = None
    advertiser: Advertiser | None = None
    query: uvicorn.Server | None = None
    osc_address = None
    try:
        if osc_port is not None:
            bridge = OscBridge(session, token, remote_subscribers=token is not None)
            osc_address = await _listen(bridge, host, osc_port, "")
            query_port = oscquery_port if oscquery_port is not None else osc_address[1] + 1
            check_free(host, query_port, "OSCQuery (give --oscquery-port)")
            host_info = HostInfo(advertise or "conductor", host, osc_address[1], host)
            query = _uvicorn(oscquery_app(bridge, host_info), host, query_port)
            tasks.append(asyncio.create_task(query.serve(), name="oscquery"))
        if wek_port is not None:
            wek_bridge = OscBridge(session, token, remote_subscribers=token is not None)
            wek_address = await _listen(
                wek_bridge, host, wek_port,
                " (--wek-port); is Wekinator running? Quit it, or give another port",
            )  # fmt: skip
        while not web.started:
            if tasks[0].done():  # uvicorn gave up (it exits on a port in use)
                raise ConductorError(f"cannot serve the page on {host}:{port}: is the port in use?")
            await asyncio.sleep(0.02)
        if query is not None:
            while not query.started and not tasks[-1].done():
                await asyncio.sleep(0.02)
        bound = web.servers[0].sockets[0].getsockname()[1] if web.servers else port
        query_bound = (
            query.servers[0].sockets[0].getsockname()[1] if query and query.servers else None
        )
        if host_info is not None:
            host_info.ws_port = bound
        if advertise is not None and osc_address is not None and query_bound is not None:
            announced = services(advertise, announce_at, osc_address[1], query_bound)
            advertiser = Advertiser(announced, zeroconf)
            await advertiser.start()
        endpoints = Endpoints(
            url=f"{'https' if tls is not None else 'http'}://{host}:{bound}/",
            osc=osc_address,
            oscquery=f"http://{host}:{query_bound}/" if query_bound is not None else None,
            advertised=[service.name for service in advertiser.services] if advertiser else [],
            wekinator=wek_address,
        )
        _freeze_startup_objects()
        if on_ready is not None:
            on_ready(endpoints)
        tasks.append(asyncio.create_task(session.run(), name="clock"))
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    finally:
        if advertiser is not None:
            with contextlib.suppress(Exception):  # the network may be gone; say goodbye if not
                await advertiser.close()
        web.should_exit = True
        if query is not None:
            query.should_exit = True
        session.close()
        if midi is not None:
            midi.close()
        for endpoint in (bridge, wek_bridge):
            if endpoint is not None:
                endpoint.close()
        for task in tasks:
            if not task.done():
                task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, SystemExit, Exception):
                await task


async def _listen(bridge: OscBridge, host: str, port: int, hint: str) -> tuple[str, int]:
    """The bridge listening on (host, port), or one line that says why not."""
    try:
        return await bridge.start(host, port)
    except OSError as error:
        raise ConductorError(
            f"cannot listen for OSC on {host}:{port}: {error.strerror}{hint}"
        ) from None


def _freeze_startup_objects() -> None:
    """Move what the start made (models, libraries, the app: ~200,000 objects) out of the
    collector's reach: a full collection over them took ~95 ms here, six symbols at 60/s,
    at whatever moment it fell. What the session makes from now on is collected as before."""
    gc.collect()
    gc.freeze()


class BackgroundServer:
    """`serve` on its own thread and event loop, for scripts, benchmarks and tests.

    Starts at once and returns when the server is listening (or raises what stopped it).
    `call(fn)` runs `fn()` on the server's loop, where the session lives; `stop()` ends it.
    """

    def __init__(self, session: Session, timeout: float = 60.0, **options: Any) -> None:
        self.session = session
        self.endpoints: Endpoints | None = None
        self.error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        def on_ready(endpoints: Endpoints) -> None:
            self.endpoints = endpoints
            ready.set()

        def main() -> None:
            self._task = self._loop.create_task(serve(session, on_ready=on_ready, **options))
            try:
                self._loop.run_until_complete(self._task)
            except asyncio.CancelledError:
                pass
            except BaseException as error:  # handed to the thread that started us
                self.error = error
            finally:
                ready.set()

        self._thread = threading.Thread(target=main, name="conductor-server", daemon=True)
        self._thread.start()
        ready.wait(timeout)
        if self.endpoints is None:
            if isinstance(self.error, ConductorError):
                raise self.error
            raise ConductorError(f"the server did not start: {self.error!r}")

    def call(self, fn: Callable[[], T]) -> T:
        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(30)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(30)
