"""OSCQuery: the input address space as JSON over HTTP (types, ranges, access, current values),
so tools can discover it. Types and ranges are the address table's, which takes them from the
command models: what OSCQuery says is what the session accepts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from conductor.server.osc.bridge import OscBridge
from conductor.server.osc.decode import PREFIX, Address

__all__ = ["HostInfo", "oscquery_app"]

WILDCARDS = ("0.0.0.0", "::", "")


@dataclass
class HostInfo:
    """`/?HOST_INFO`: who answers, and where its OSC and WebSocket servers listen.

    An IP bound to every interface (0.0.0.0) is left out: a client then uses the address it
    reached OSCQuery at, as the proposal says. The WebSocket is conductor's own JSON protocol
    (`/ws`), not OSCQuery's LISTEN streaming, so `LISTEN` is false."""

    name: str
    osc_ip: str
    osc_port: int
    ws_ip: str
    ws_port: int | None = None  # known once the web server listens

    def to_json(self) -> dict[str, Any]:
        info: dict[str, Any] = {"NAME": self.name}
        if self.osc_ip not in WILDCARDS:
            info["OSC_IP"] = self.osc_ip
        info |= {"OSC_PORT": self.osc_port, "OSC_TRANSPORT": "UDP"}
        if self.ws_port is not None:
            if self.ws_ip not in WILDCARDS:
                info["WS_IP"] = self.ws_ip
            info["WS_PORT"] = self.ws_port
        info["EXTENSIONS"] = {
            "ACCESS": True, "VALUE": True, "RANGE": True, "DESCRIPTION": True, "LISTEN": False,
        }  # fmt: skip
        return info


def _node(address: Address, state: dict[str, Any]) -> dict[str, Any]:
    value: list[Any] | None = None
    arguments = list(address.arguments)
    if address.variadic:  # the mapping's input: as many floats as its examples have (else as
        mapping = state["mapping"]  # the latest input, else one), that input as its VALUE
        value = mapping["input"]
        arguments *= mapping["inputs"] or len(value or [0.0])
    elif address.state_key == "target" and address.path == "/weights":
        value = list(state["target"].values())
    elif address.state_key == "target":
        value = [state["target"][address.path.removeprefix("/weight/")]]
    elif address.state_key is not None:
        value = [state[address.state_key]]
    entry: dict[str, Any] = {
        "FULL_PATH": PREFIX + address.path,
        "TYPE": "".join(argument.spec.tag for argument in arguments),
        "ACCESS": 3 if value is not None else 2,
        "DESCRIPTION": address.description,
    }
    if value is not None:
        entry["VALUE"] = value
    ranges = [argument.spec.describe() for argument in arguments]
    if any(r is not None for r in ranges):
        entry["RANGE"] = [r if r is not None else {} for r in ranges]
    return entry


def oscquery_app(bridge: OscBridge, host_info: HostInfo) -> FastAPI:
    """OSCQuery (HTTP + JSON) description of the bridge's address space."""
    app = FastAPI(title="conductor OSCQuery", docs_url=None, redoc_url=None)

    def tree() -> dict[str, Any]:
        state = bridge.session.state()
        root: dict[str, Any] = {"FULL_PATH": "/", "ACCESS": 0, "CONTENTS": {}}
        for address in bridge.table.values():
            cursor = root
            parts = [p for p in (PREFIX + address.path).split("/") if p]
            for depth, part in enumerate(parts[:-1]):
                path = "/" + "/".join(parts[: depth + 1])
                cursor = cursor["CONTENTS"].setdefault(
                    part, {"FULL_PATH": path, "ACCESS": 0, "CONTENTS": {}}
                )
            cursor["CONTENTS"][parts[-1]] = _node(address, state)
        return root

    @app.get("/{path:path}")
    async def describe(path: str, request: Request) -> JSONResponse:
        if "HOST_INFO" in request.query_params:
            return JSONResponse(host_info.to_json())
        found: dict[str, Any] | None = tree()
        for part in [p for p in path.split("/") if p]:
            found = (found or {}).get("CONTENTS", {}).get(part)
        if found is None:
            return JSONResponse({"error": f"no OSC address /{path}"}, status_code=404)
        if "VALUE" in request.query_params:
            return JSONResponse({"VALUE": found.get("VALUE", [])})
        return JSONResponse(found)

    return app
