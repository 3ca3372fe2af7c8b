"""What `serve --advertise` would announce, checked without a packet: tests never send
multicast. The records, the addresses, the refusals, and the register/unregister calls made to
python-zeroconf (a test double stands in for the network)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from conductor.errors import ConductorError
from conductor.server.advertise import (
    OSC_SERVICE,
    OSCQUERY_SERVICE,
    Advertiser,
    addresses_for,
    service_info,
    services,
)
from conductor.server.run import check_options


def test_a_server_announces_oscquery_over_tcp_and_osc_over_udp() -> None:
    oscquery, osc = services("conductor", ["192.168.1.20"], 9000, 9001, server="studio.local.")
    assert (
        (oscquery.kind, oscquery.port) == ("_oscjson._tcp.local.", 9001) == (OSCQUERY_SERVICE, 9001)
    )
    assert (osc.kind, osc.port) == ("_osc._udp.local.", 9000) == (OSC_SERVICE, 9000)
    assert oscquery.name == "conductor._oscjson._tcp.local."
    assert osc.name == "conductor._osc._udp.local."
    # as python-zeroconf would put them on the wire (building a ServiceInfo sends nothing)
    info = service_info(osc)
    assert info.type == "_osc._udp.local." and info.name == "conductor._osc._udp.local."
    assert info.port == 9000 and info.server == "studio.local."
    assert info.parsed_addresses() == ["192.168.1.20"]
    assert info.properties == {b"txtvers": b"1"}
    assert service_info(oscquery).port == 9001


def test_the_addresses_announced_are_the_ones_the_server_is_reachable_at() -> None:
    assert addresses_for("192.168.1.20") == ("192.168.1.20",)
    interfaces = ["127.0.0.1", "192.168.1.20", "10.0.0.5", "169.254.3.3", "fe80::1%eth0", "::1"]
    assert addresses_for("0.0.0.0", interfaces) == ("10.0.0.5", "192.168.1.20")
    assert addresses_for("::", ["2001:db8::7", "fe80::1%eth0", "::1"]) == ("2001:db8::7",)
    with pytest.raises(ConductorError, match="no network address"):
        addresses_for("0.0.0.0", ["127.0.0.1"])


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_advertising_a_loopback_server_is_refused_in_one_line(host: str) -> None:
    with pytest.raises(ConductorError, match="--host 0.0.0.0") as refused:
        check_options(host, "secret", 9000, "conductor")
    assert "\n" not in str(refused.value)
    with pytest.raises(ConductorError, match="turn OSC on"):
        check_options("192.168.1.20", "secret", None, "conductor")
    check_options(host, None, 9000, None)  # not advertising: a local server is fine


class RecordingZeroconf:
    """Stands in for python-zeroconf's AsyncZeroconf: records what would go on the network."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def async_register_service(self, info: Any, allow_name_change: bool = False) -> None:
        assert allow_name_change  # a second conductor on the network is renamed, not refused
        self.calls.append(("register", info.name))

    async def async_unregister_service(self, info: Any) -> None:
        self.calls.append(("unregister", info.name))

    async def async_close(self) -> None:
        self.calls.append(("close", None))


def test_the_advertiser_registers_both_services_and_says_goodbye_at_close() -> None:
    zeroconf = RecordingZeroconf()
    announced = services("stage left", ["192.168.1.20"], 9000, 9001)
    advertiser = Advertiser(announced, zeroconf)

    async def run() -> None:
        await advertiser.start()
        await advertiser.close()

    asyncio.run(run())
    names = ["stage left._oscjson._tcp.local.", "stage left._osc._udp.local."]
    assert zeroconf.calls == [
        *(("register", name) for name in names),
        *(("unregister", name) for name in names),
        ("close", None),
    ]


def test_a_network_that_refuses_the_announcement_is_one_line() -> None:
    class Refusing(RecordingZeroconf):
        async def async_register_service(self, info: Any, allow_name_change: bool = False) -> None:
            raise OSError("no route to the multicast group")

    advertiser = Advertiser(services("conductor", ["192.168.1.20"], 9000, 9001), Refusing())
    with pytest.raises(
        ConductorError, match="cannot announce conductor._oscjson._tcp.local.: no route"
    ):
        asyncio.run(advertiser.start())
