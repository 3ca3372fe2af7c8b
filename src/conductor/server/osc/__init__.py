"""OSC in and out: a pure decoder (datagram → commands), the UDP bridge, and OSCQuery."""

from conductor.server.osc.bridge import OscBridge
from conductor.server.osc.decode import Address, Subscription, address_table, decode
from conductor.server.osc.query import HostInfo, oscquery_app

__all__ = [
    "Address",
    "HostInfo",
    "OscBridge",
    "Subscription",
    "address_table",
    "decode",
    "oscquery_app",
]
