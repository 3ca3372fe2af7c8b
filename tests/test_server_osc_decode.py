"""The OSC decoder as a pure function: datagram → commands, or the error. No socket."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from conductor.commands import (
    WEIGHT,
    BaseCommand,
    CommandError,
    LoadCommand,
    PresetCommand,
    RateCommand,
    SearchOption,
    SetCommand,
    StepCommand,
    UnloadCommand,
    XyCommand,
    field_spec,
    parse_command,
)
from conductor.server.osc import Subscription, address_table, decode

NAMES = ["letters", "digits", "kjv"]
TABLE = address_table(NAMES)


def osc(address: str, *args: Any) -> bytes:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


def bundle(*messages: bytes) -> bytes:
    builder = OscBundleBuilder(IMMEDIATELY)
    for message in messages:
        builder.add_content(OscMessage(message))
    return builder.build().dgram


def test_types_and_ranges_are_the_command_fields() -> None:
    """Each address's type tags and bounds are read off the command models: one schema."""
    assert TABLE["/weights"].types == "fff"
    assert all(a.spec == WEIGHT for a in TABLE["/weights"].arguments)
    assert TABLE["/weight/kjv"].arguments[0].spec == WEIGHT
    assert WEIGHT.minimum == -1.0 and WEIGHT.maximum == 1.0
    cases = [
        ("/temperature", SetCommand, "temperature"),
        ("/rate", RateCommand, "chars_per_s"),
        ("/step", StepCommand, "count"),
        ("/mixer", SetCommand, "mixer"),
        ("/xy", XyCommand, "x"),
        ("/preset", PresetCommand, "name"),
    ]
    for path, model, name in cases:
        assert TABLE[path].arguments[0].spec == field_spec(model, name), path
    assert TABLE["/mixer"].arguments[0].spec.describe() == {"VALS": ["linear", "product"]}
    assert TABLE["/rate"].arguments[0].spec.describe() == {
        "MIN": 0.0,
        "MAX": RateCommand.model_fields["chars_per_s"].metadata[1].le,
    }
    assert TABLE["/step"].types == "i" and TABLE["/preset"].types == "sf"


def test_a_bundle_decodes_in_order() -> None:
    got = decode(
        bundle(
            osc("/conductor/weight/kjv", 1.0),
            osc("/conductor/weight/letters", 0.0),
            osc("/conductor/temperature", 0.5),
            osc("/conductor/step"),
            osc("/conductor/subscribe", "127.0.0.1", 9999),
        ),
        TABLE,
    )
    assert got == [
        SetCommand(weights={"kjv": 1.0}),
        SetCommand(weights={"letters": 0.0}),
        SetCommand(temperature=0.5),
        StepCommand(count=1),
        Subscription(True, "127.0.0.1", 9999),
    ]


def test_a_style_is_loaded_and_weighted_in_one_bundle() -> None:
    """A weight for a style not playing yet decodes (the bundle may load it first): the
    session, which knows what it has and will have, says whether there is such a style."""
    got = decode(
        bundle(osc("/conductor/load", "milton"), osc("/conductor/weight/milton", 0.5)), TABLE
    )
    assert got == [LoadCommand(style="milton"), SetCommand(weights={"milton": 0.5})]
    assert decode(osc("/conductor/unload", "kjv"), TABLE) == [UnloadCommand(style="kjv")]
    assert TABLE["/load"].types == "s" and TABLE["/unload"].types == "s"


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        (osc("/conductor/weight/a/b", 1.0), "/conductor/weight/a/b: unknown address"),
        (osc("/conductor/load", "../kjv"), "is not a style name"),
        (osc("/conductor/unload"), "takes 1 argument(s) (s), got 0"),
        (osc("/conductor/weight/kjv", "loud"), "expected a number"),
        (osc("/conductor/weight/kjv", 2.0), "less than or equal to 1"),
        (osc("/conductor/temperature", 99.0), "temperature: Input should be less than or equal"),
        (osc("/conductor/rate", 5000.0), "chars_per_s"),
        (osc("/conductor/weights", 1.0), "takes 3 argument(s) (fff), got 1"),
        (osc("/conductor/step", 2.5), "whole number"),
        (osc("/conductor/mixer", "jazz"), "mixer"),
        (osc("/elsewhere"), "under /conductor/"),
        (osc("/conductor/subscribe", "10.0.0.1", 9000), "127.0.0.1"),
        (osc("/conductor/subscribe", "127.0.0.1", 70000), "not a UDP port"),
        (b"\x00\x01garbage", "not an OSC packet"),
        # One bad message spoils its bundle: nothing of it is used.
        (bundle(osc("/conductor/weight/kjv", 1.0), osc("/conductor/nope")), "/conductor/nope"),
    ],
)
def test_bad_datagrams_are_one_error_naming_the_address(data: bytes, complaint: str) -> None:
    with pytest.raises(CommandError) as caught:
        decode(data, TABLE)
    assert complaint in str(caught.value) and "\n" not in str(caught.value)


def test_the_token_is_the_first_argument_of_every_message() -> None:
    with pytest.raises(CommandError, match="token"):
        decode(osc("/conductor/play"), TABLE, token="s3cret")
    with pytest.raises(CommandError, match="token"):
        decode(osc("/conductor/play", "guess"), TABLE, token="s3cret")
    assert decode(osc("/conductor/rate", "s3cret", 20.0), TABLE, token="s3cret") == [
        RateCommand(chars_per_s=20.0)
    ]


ADDRESSES = [f"/conductor{path}" for path in TABLE] + [
    "/conductor/subscribe",
    "/conductor/nothing",
    "/x",
]
ARGUMENT = st.one_of(
    st.floats(width=32),
    st.integers(-(2**31), 2**31 - 1),
    st.text(max_size=20),
    st.binary(min_size=1, max_size=20),
)


@given(
    st.one_of(
        st.binary(max_size=256),
        st.builds(
            lambda address, args: osc(address, *args),
            st.sampled_from(ADDRESSES),
            st.lists(ARGUMENT, max_size=4),
        ),
    )
)
def test_whatever_decodes_is_a_valid_command(data: bytes) -> None:
    """Garbage in: a `CommandError`, or commands that validate afresh (never anything else)."""
    try:
        decoded = decode(data, TABLE)
    except CommandError as error:
        assert str(error) and "\n" not in str(error)
        return
    for item in decoded:
        if isinstance(item, Subscription):
            assert 0 < item.port < 65536 and item.host in ("127.0.0.1", "localhost")
        else:
            assert isinstance(item, BaseCommand)
            assert parse_command(item.model_dump(exclude_none=True)) == item


def test_search_is_switched_and_set_over_osc() -> None:
    table = address_table(["a", "b"])
    assert table["/search"].types == "iiiff" and table["/search"].required == 1
    (on,) = decode(osc("/conductor/search", 1), table)
    assert isinstance(on, SetCommand) and on.search is not None and on.search.on is True
    assert on.search.samples is None  # the settings in force are kept
    (wide,) = decode(osc("/conductor/search", 1, 16, 6, 0.5), table)
    assert wide.search == SearchOption(on=True, samples=16, depth=6, balance=0.5)  # type: ignore[union-attr]
    (exact,) = decode(osc("/conductor/search", 1, 16, 6, 0.0, 0.0), table)
    assert exact.search == SearchOption(on=True, samples=16, depth=6, balance=0.0, margin=0.0)  # type: ignore[union-attr]
    (off,) = decode(osc("/conductor/search", 0), table)
    assert off.search == SearchOption(on=False)  # type: ignore[union-attr]
    for args, complaint in [
        ((2,), "boolean"),
        ((1, 0), "samples"),
        ((1, 8, 40), "depth"),
        ((1, 8, 4, 0.0, -1.0), "margin"),
    ]:
        with pytest.raises(CommandError, match=complaint):
            decode(osc("/conductor/search", *args), table)
