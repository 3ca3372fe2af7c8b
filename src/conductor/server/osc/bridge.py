"""The session's OSC endpoint (python-osc for the codec; our own asyncio UDP transport).

In: a datagram is decoded whole by the pure `decode` (see `decode.py`), then its commands go to
the session together (`Session.submit_all`): a bundle is checked on the state it leaves and
applies whole, on one symbol, or not at all. Anything refused (binary garbage, wrong argument
types, unknown addresses, bad values, an unusable end state) is answered with one
`/conductor/error s` to the sender and changes nothing; the server keeps generating.

Out: subscribers (`/conductor/subscribe s i`, loopback only unless the server allows remote
hosts) get `/conductor/symbol s i` and `/conductor/by s` for every step, `/conductor/weights f…`
when the weights change, and `/conductor/mixed b` (float32 blob) at display rate. With music on
(`serve --music`): `/conductor/bar i s` (index, ABC text) when a bar is read, and
`/conductor/note i i f` (MIDI pitch, velocity, duration in seconds) as each melody note sounds,
`/conductor/chord i i f` as each note of the accompaniment (the tune's chords) does.

With a token (required when the server listens beyond 127.0.0.1) every message's first argument
must be the token string.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

import numpy as np
from pythonosc.osc_message_builder import OscMessageBuilder

from conductor.commands import CommandError
from conductor.events import BarEvent, ErrorEvent, Event, StepEvent
from conductor.notes import ACCOMPANIMENT, Note
from conductor.server.notes import schedule_notes
from conductor.server.osc.decode import PREFIX, Address, Subscription, address_table, decode
from conductor.session import Session

__all__ = ["MAX_SUBSCRIBERS", "OscBridge"]

log = logging.getLogger("conductor.osc")
DISPLAY_HZ = 30.0
MAX_SUBSCRIBERS = 32


def _message(address: str, *args: Any) -> bytes:
    builder = OscMessageBuilder(address)
    for arg in args:
        if isinstance(arg, bytes):
            builder.add_arg(arg, OscMessageBuilder.ARG_TYPE_BLOB)
        elif isinstance(arg, float):
            builder.add_arg(arg, OscMessageBuilder.ARG_TYPE_FLOAT)
        else:
            builder.add_arg(arg)
    return builder.build().dgram


class OscBridge(asyncio.DatagramProtocol):
    """The session's OSC endpoint: one UDP socket for input, replies and subscribers."""

    def __init__(
        self, session: Session, token: str | None = None, remote_subscribers: bool = False
    ) -> None:
        self.session = session
        self.token = token
        self.remote_subscribers = remote_subscribers
        self._table_names = tuple(session.names)
        self._table = address_table(self._table_names)
        self.subscribers: set[tuple[str, int]] = set()
        self.transport: asyncio.DatagramTransport | None = None
        self.refused = 0
        self._last_weights: list[float] | None = None
        self._last_mixed = 0.0
        session.add_sink(self._on_event)

    @property
    def table(self) -> dict[str, Address]:
        """The address space of the styles playing now (a `load` or `unload` changes it)."""
        names = tuple(self.session.names)
        if names != self._table_names:
            self._table, self._table_names = address_table(names), names
        return self._table

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen on (host, port); returns the bound address (port 0 picks a free one)."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))
        address: tuple[str, int] = transport.get_extra_info("sockname")[:2]
        return address

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # asyncio's is a datagram one

    def close(self) -> None:
        self.session.remove_sink(self._on_event)
        if self.transport is not None:
            self.transport.close()

    # -- in ------------------------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        sender = (str(addr[0]), int(addr[1]))
        try:
            decoded = decode(data, self.table, sender, self.token, self.remote_subscribers)
            subscriptions = [item for item in decoded if isinstance(item, Subscription)]
            commands = [item for item in decoded if not isinstance(item, Subscription)]
            added = {(s.host, s.port) for s in subscriptions if s.subscribe} - self.subscribers
            if len(self.subscribers) + len(added) > MAX_SUBSCRIBERS:
                raise CommandError(f"/conductor/subscribe: at most {MAX_SUBSCRIBERS} subscribers")
            replies = self.session.submit_all(commands) if commands else []
        except CommandError as error:
            self._refuse(sender, str(error))
            return
        for subscription in subscriptions:  # only once the whole datagram is accepted
            target = (subscription.host, subscription.port)
            if subscription.subscribe:
                self.subscribers.add(target)
                self._last_weights = None  # a new subscriber hears the weights on the next step
            else:
                self.subscribers.discard(target)
        for reply in replies:
            self._send(sender, _message(f"{PREFIX}/state", json.dumps(reply.state)))

    def _refuse(self, sender: tuple[str, int], why: str) -> None:
        self.refused += 1
        log.info("OSC from %s:%d refused: %s", sender[0], sender[1], why)
        self._send(sender, _message(f"{PREFIX}/error", why[:500]))

    # -- out -----------------------------------------------------------------------------------

    def _send(self, target: tuple[str, int], packet: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        with contextlib.suppress(OSError):  # an unreachable subscriber must not stop the others
            self.transport.sendto(packet, target)

    def _on_event(self, event: Event) -> None:
        if not self.subscribers:
            return
        if isinstance(event, BarEvent):
            self._on_bar(event)
        if isinstance(event, ErrorEvent):  # the session's own (a search narrowed, say)
            self._to_subscribers(_message(f"{PREFIX}/error", event.message))
        if not isinstance(event, StepEvent):
            return
        packets = [
            _message(f"{PREFIX}/symbol", event.symbol, event.i),
            _message(f"{PREFIX}/by", event.by),
        ]
        if event.weights != self._last_weights:
            self._last_weights = event.weights
            packets.append(_message(f"{PREFIX}/weights", *[float(w) for w in event.weights]))
        for packet in packets:
            self._to_subscribers(packet)
        now = time.monotonic()
        if now - self._last_mixed >= 1 / DISPLAY_HZ:
            self._last_mixed = now
            # After the other sinks have the symbol (the page's viewers, MIDI): the
            # distribution is display data, the symbol is what a listener waits for.
            try:
                asyncio.get_running_loop().call_soon(self._send_mixed, event)
            except RuntimeError:  # stepped outside the server's loop (a script): send it now
                self._send_mixed(event)

    def _send_mixed(self, event: StepEvent) -> None:
        mixed = event.dists().mixed.numpy().astype(np.float32)  # [V]
        self._to_subscribers(_message(f"{PREFIX}/mixed", mixed.tobytes()))

    def _on_bar(self, event: BarEvent) -> None:
        """`/conductor/bar i s` now; each note as `/conductor/note i i f` when it sounds (an
        accompaniment's as `/conductor/chord i i f`)."""
        self._to_subscribers(_message(f"{PREFIX}/bar", event.index, event.abc))
        schedule_notes(event, self._send_note)

    def _send_note(self, note: Note) -> None:
        address = f"{PREFIX}/chord" if note.voice == ACCOMPANIMENT else f"{PREFIX}/note"
        self._to_subscribers(_message(address, note.pitch, note.velocity, float(note.duration)))

    def _to_subscribers(self, packet: bytes) -> None:
        for subscriber in list(self.subscribers):
            self._send(subscriber, packet)
