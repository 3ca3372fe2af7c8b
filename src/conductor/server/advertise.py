"""Found on the network: DNS-SD service records for OSCQuery and OSC, announced over mDNS.

As the OSCQuery proposal says, an OSCQuery server announces `_oscjson._tcp` (its HTTP port) and
the OSC server beside it `_osc._udp` (its UDP port): ossia score, Chataigne and VDMX browse the
first and read the address space; TouchOSC browses the second. What would be announced is a
pure function (`services`, `service_info`), so it is tested without a packet; only
`Advertiser.start` joins the multicast group and speaks (python-zeroconf).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from conductor.errors import ConductorError

__all__ = [
    "OSCQUERY_SERVICE",
    "OSC_SERVICE",
    "Advertiser",
    "Service",
    "addresses_for",
    "check_advertisable",
    "service_info",
    "services",
]

OSCQUERY_SERVICE = "_oscjson._tcp.local."
OSC_SERVICE = "_osc._udp.local."
WILDCARDS = ("0.0.0.0", "::", "")


@dataclass(frozen=True)
class Service:
    """One DNS-SD service instance: what a browser on the network would see."""

    kind: str  # the service type, e.g. "_oscjson._tcp.local."
    instance: str  # the instance name shown to people, e.g. "conductor"
    port: int
    addresses: tuple[str, ...]  # IPv4/IPv6 addresses the port is reachable at
    server: str  # the host's mDNS name, e.g. "studio.local."
    properties: dict[str, str] = field(default_factory=dict)  # the TXT record

    @property
    def name(self) -> str:
        return f"{self.instance}.{self.kind}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_advertisable(host: str) -> None:
    """One line if `--advertise` cannot work with `--host`: a loopback server cannot be reached
    by the machines that would find it."""
    if _is_loopback(host):
        raise ConductorError(
            f"--advertise announces this server on the network, but --host {host} takes "
            "connections from this machine only; give --host 0.0.0.0 (or this machine's "
            "address) and --token"
        )


def addresses_for(host: str, interfaces: Sequence[str] | None = None) -> tuple[str, ...]:
    """The addresses to announce for a server bound to `host`: that address, or for a wildcard
    (0.0.0.0, ::) every non-loopback address of this machine's interfaces (`interfaces` is for
    tests; by default they are read with ifaddr, which python-zeroconf uses)."""
    check_advertisable(host)
    if host not in WILDCARDS:
        return (host,)
    if interfaces is None:
        import ifaddr

        interfaces = [
            str(ip.ip if isinstance(ip.ip, str) else ip.ip[0])
            for adapter in ifaddr.get_adapters()
            for ip in adapter.ips
        ]
    wanted = 4 if host == "0.0.0.0" else 6
    found = []
    for text in interfaces:
        address = ipaddress.ip_address(text.split("%")[0])
        if address.version == wanted and not address.is_loopback and not address.is_link_local:
            found.append(str(address))
    if not found:
        raise ConductorError(
            f"--advertise: this machine has no network address for --host {host} to announce; "
            "connect to a network, or give --host ADDRESS"
        )
    return tuple(sorted(set(found)))


def services(
    instance: str,
    addresses: Sequence[str],
    osc_port: int,
    oscquery_port: int,
    server: str | None = None,
) -> list[Service]:
    """The two records of a conductor server: OSCQuery over HTTP, and OSC over UDP."""
    host = server or f"{socket.gethostname().split('.')[0]}.local."
    return [
        Service(OSCQUERY_SERVICE, instance, oscquery_port, tuple(addresses), host),
        Service(OSC_SERVICE, instance, osc_port, tuple(addresses), host, {"txtvers": "1"}),
    ]


def service_info(service: Service) -> Any:
    """The python-zeroconf `ServiceInfo` for `service` (building it sends nothing)."""
    from zeroconf import ServiceInfo

    return ServiceInfo(
        service.kind,
        service.name,
        port=service.port,
        properties=service.properties,
        server=service.server,
        parsed_addresses=list(service.addresses),
    )


class Advertiser:
    """Announces services over mDNS until closed (python-zeroconf's asyncio API).

    `zeroconf` is the `AsyncZeroconf` to announce with; by default one bound to the services'
    addresses is made at `start` (a test hands in a double: tests never send multicast)."""

    def __init__(self, announced: list[Service], zeroconf: Any | None = None) -> None:
        self.services = announced
        self._zeroconf = zeroconf
        self._infos: list[Any] = []

    async def start(self) -> None:
        if self._zeroconf is None:
            from zeroconf.asyncio import AsyncZeroconf

            addresses = sorted({a for s in self.services for a in s.addresses})
            self._zeroconf = AsyncZeroconf(interfaces=addresses)
        for service in self.services:
            info = service_info(service)
            try:
                # allow_name_change: a second conductor on the network becomes "conductor (2)"
                await self._zeroconf.async_register_service(info, allow_name_change=True)
            except Exception as error:  # the network said no: say so, keep serving
                raise ConductorError(
                    f"--advertise: cannot announce {service.name}: {error}"
                ) from None
            self._infos.append(info)

    async def close(self) -> None:
        if self._zeroconf is None:
            return
        for info in self._infos:
            await self._zeroconf.async_unregister_service(info)
        self._infos.clear()
        await self._zeroconf.async_close()
