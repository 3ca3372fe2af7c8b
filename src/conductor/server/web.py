"""The web visualiser and control page: FastAPI, one WebSocket per browser, a static page.

Every browser shares the one `Session`. Each gets its own outgoing queue: a `step` message for
every symbol; a `dists` message (every model's and the mixed distribution) right after it, at
most at display rate, so a fast stream never floods a browser. The distributions are turned
into JSON only when the socket is ready for them, after the symbol has gone out: they never
delay it. A browser that cannot keep up (its queue full) is disconnected — it reconnects and
gets the current state — rather than slowing the rest.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import time
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from conductor.commands import (
    WEIGHT,
    CommandError,
    RateCommand,
    SearchOption,
    SetCommand,
    field_spec,
    parse_message,
)
from conductor.events import ErrorEvent, Event, StepEvent
from conductor.session import Session

__all__ = ["create_app"]

log = logging.getLogger("conductor.web")
DISPLAY_HZ = 60.0
QUEUE_LIMIT = 4096
MAX_MESSAGE = 64 * 1024


class _Client:
    """One browser: a bounded queue of JSON texts and its display-rate clock."""

    def __init__(self) -> None:
        # JSON text, or a step whose distributions are still to be serialised.
        self.queue: asyncio.Queue[str | StepEvent | None] = asyncio.Queue(QUEUE_LIMIT)
        self.last_distributions = 0.0
        self.overflowed = False

    def __call__(self, event: Event) -> None:
        try:
            if not isinstance(event, StepEvent):
                self.queue.put_nowait(event.json_text())
                return
            self.queue.put_nowait(event.json_text())
            now = time.monotonic()
            if now - self.last_distributions >= 1 / DISPLAY_HZ:
                self.last_distributions = now
                self.queue.put_nowait(event)  # serialised by the sender, after the symbol
        except asyncio.QueueFull:
            self.overflowed = True  # the sender closes this socket at its next message


def abcjs_path() -> Path | None:
    """abcjs (MIT), from the npm registry at setup, never committed: $CONDUCTOR_ABCJS, the
    package's own copy (`static/vendor/`, made by `make install` and carried by a wheel built
    after it), or `.npm/` in the working directory or the source checkout."""
    relative = Path(".npm/node_modules/abcjs/dist/abcjs-basic-min.js")
    bundled = Path(str(files("conductor.server") / "static" / "vendor" / "abcjs-basic-min.js"))
    candidates = [bundled, Path.cwd() / relative, Path(__file__).resolve().parents[3] / relative]
    if os.environ.get("CONDUCTOR_ABCJS"):
        candidates.insert(0, Path(os.environ["CONDUCTOR_ABCJS"]))
    return next((path for path in candidates if path.is_file()), None)


def _ranges() -> dict[str, list[float | None]]:
    """The ranges the page's controls may span: the command models' own (the one schema)."""
    specs = {
        "weight": WEIGHT,
        "temperature": field_spec(SetCommand, "temperature"),
        "rate": field_spec(RateCommand, "chars_per_s"),
        "search_samples": field_spec(SearchOption, "samples"),
        "search_depth": field_spec(SearchOption, "depth"),
    }
    return {name: [spec.minimum, spec.maximum] for name, spec in specs.items()}


def _hello(session: Session) -> dict[str, Any]:
    state = session.state()
    return {
        "type": "hello",
        "styles": session.names,
        "ranges": _ranges(),
        "pad": state["pad"],
        "state": state,
        "text": session.text_tail,
        "music": session.performer_state(),
        # every style `load` can add (the page lists them; those playing are in the state)
        "library": [
            {"name": style.name, "about": style.about} for style in session.library.catalogue()
        ],
    }


def create_app(session: Session, token: str | None = None) -> FastAPI:
    """The app: `/` the page, `/ws` the WebSocket, `/state` the state as JSON."""
    app = FastAPI(title="conductor", docs_url=None, redoc_url=None)
    static = files("conductor.server") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    def allowed(given: str | None) -> bool:
        return token is None or (given is not None and hmac.compare_digest(given, token))

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        return (static / "index.html").read_text(encoding="utf-8")

    @app.get("/vendor/abcjs-basic-min.js")
    async def abcjs() -> Response:
        found = abcjs_path()
        if found is None:  # the page then says how to get it; the music still plays
            return Response("/* abcjs is not in this install */", status_code=404)
        return FileResponse(found, media_type="text/javascript")

    @app.get("/state")
    async def state(token: str | None = None) -> JSONResponse:
        if not allowed(token):
            return JSONResponse({"error": "a token is required"}, status_code=403)
        return JSONResponse(session.state())

    @app.websocket("/ws")
    async def socket(websocket: WebSocket) -> None:
        if not allowed(websocket.query_params.get("token")):
            await websocket.close(code=1008, reason="a token is required: /ws?token=...")
            return
        await websocket.accept()
        client = _Client()
        await websocket.send_text(json.dumps(_hello(session)))
        session.add_sink(client)
        sender = asyncio.create_task(_send(websocket, client))
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    replies: list[Event] = [
                        ErrorEvent("binary frames are not commands: send JSON text")
                    ]
                else:
                    replies = _handle(session, text)
                for reply in replies:
                    await websocket.send_text(reply.json_text())
        except (WebSocketDisconnect, RuntimeError):
            pass  # the browser went away, mid-message or not
        except asyncio.CancelledError:
            pass  # the server is stopping (Ctrl-C): the browser reconnects when it is back
        except Exception:  # never let one socket take the server down
            log.exception("websocket handler failed")
        finally:
            session.remove_sink(client)
            sender.cancel()

    return app


def _handle(session: Session, text: str) -> list[Event]:
    """A browser's message → the session; an error event for anything it refuses.

    A message is one command object, or a JSON array of them: a scene, applied atomically."""
    if len(text) > MAX_MESSAGE:
        return [ErrorEvent(f"message over {MAX_MESSAGE} bytes refused")]
    try:
        return list(session.submit_all(parse_message(text)))
    except CommandError as error:
        return [ErrorEvent(str(error))]


async def _send(websocket: WebSocket, client: _Client) -> None:
    try:
        while True:
            item = await client.queue.get()
            if item is None or client.overflowed:
                await websocket.close(code=1013, reason="too slow: reconnect")
                return
            if isinstance(item, StepEvent):
                await asyncio.sleep(0)  # every browser's symbol goes out before the dists
                text = item.dists().json_text()
            else:
                text = item
            await websocket.send_text(text)
    except Exception:  # the socket closed under us; the receiver loop cleans up
        return
