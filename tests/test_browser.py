"""The page in a real browser (Debian's Chromium via Playwright) against a live server."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from conductor.library import shipped_dir
from tests.conftest import LiveServer, wait_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make test installs it)"
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page(live: LiveServer, browser: object) -> Iterator[object]:
    from playwright.sync_api import Browser

    assert isinstance(browser, Browser)
    page = browser.new_page(viewport={"width": 1300, "height": 820})
    page.set_default_timeout(60_000)  # a loaded CI machine is slow, not wrong
    thrown: list[str] = []  # a script error on the page (one once stopped all drawing)
    page.on("pageerror", lambda error: thrown.append(str(error)))
    assert live.endpoints is not None
    page.goto(live.endpoints.url)
    yield page
    page.close()
    assert not thrown, thrown


def written_by(page: object, last: int) -> list[str]:
    return page.evaluate(  # type: ignore[attr-defined, no-any-return]
        f"Array.from(document.querySelectorAll('#text span[data-by]')).slice(-{last})"
        ".map(s => s.dataset.by)"
    )


def test_symbols_arrive_and_the_sliders_and_pad_steer(
    live: LiveServer, page: object, tmp_path: Path
) -> None:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    page.wait_for_function("document.getElementById('status').textContent === 'live'")
    page.wait_for_function("document.querySelectorAll('#text span[data-by]').length > 20")

    # Sliders: digits all the way up, letters all the way down (real mouse clicks).
    for style, end in [("digits", 0.99), ("letters", 0.01)]:
        box = page.locator(f"input[data-style={style}]").bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + end * box["width"], box["y"] + box["height"] / 2)
    wait_for(lambda: live.call(lambda: live.session.target)[0] < 0.05)
    target = live.call(lambda: live.session.target)
    assert target[1] > 0.95
    wait_for(lambda: written_by(page, 15) == ["digits"] * 15, what="15 symbols by digits")

    # The XY pad: drag to the top, where the first style ("letters") sits.
    pad = page.locator("#pad").bounding_box()
    assert pad is not None
    cx, cy = pad["x"] + pad["width"] / 2, pad["y"] + pad["height"] / 2
    page.mouse.move(cx, cy + 60)
    page.mouse.down()
    page.mouse.move(cx, cy - 0.72 * pad["height"] / 2, steps=8)  # the top of the circle
    page.mouse.up()
    wait_for(lambda: live.call(lambda: live.session.target)[0] > 0.9)
    wait_for(lambda: written_by(page, 15) == ["letters"] * 15, what="15 symbols by letters")
    # Distributions are drawn: the canvas is not blank.
    painted = page.evaluate(
        "(() => { const c = document.getElementById('dists');"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] + d[i+1] + d[i+2] > 60) n++;"
        " return n; })()"
    )
    assert painted > 5000
    # Presets: save the current weights under a name, from the page.
    page.fill("#preset-name", "top")
    page.click("#preset-form button[type=submit]")
    wait_for(lambda: "top" in live.call(lambda: live.session.presets))
    page.wait_for_function("document.getElementById('presets').options.length >= 1")
    shot = tmp_path / "page.png"
    page.screenshot(path=str(shot))
    assert shot.read_bytes()[:4] == b"\x89PNG"

    # The controls span the session's own ranges (sent in hello, from the command models); under
    # the product mixer a weight slider reaches down to anti-experts.
    from conductor.commands import MAX_RATE, MAX_TEMPERATURE, MAX_WEIGHT

    assert float(page.get_attribute("#temperature", "max") or "nan") == MAX_TEMPERATURE
    assert float(page.get_attribute("#rate", "max") or "nan") == MAX_RATE
    scene = {"type": "set", "mixer": "product", "weights": {"letters": 1.0, "digits": -0.5}}
    live.call(lambda: live.session.submit(scene))
    digits, letters = "input[data-style=digits]", "input[data-style=letters]"
    page.wait_for_function(f"document.querySelector('{digits}').value === '-0.5'")
    assert float(page.eval_on_selector(digits, "e => e.min")) == -MAX_WEIGHT
    assert float(page.eval_on_selector(letters, "e => e.max")) == MAX_WEIGHT


def summary(page: object) -> list[str]:
    """The distributions as the page reads them out (the canvas's text alternative)."""
    return page.evaluate(  # type: ignore[attr-defined, no-any-return]
        "Array.from(document.querySelectorAll('#dists-summary li')).map(li => li.textContent)"
    )


def test_the_distributions_name_their_runners_up_and_show_skipped_styles_as_skipped(
    live: LiveServer, page: object
) -> None:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    live.restore()  # letters alone: digits is under the threshold and does not run
    # (the page may still show the last test's weights for a symbol: wait for the restored ones)
    wait_for(
        lambda: "digits: skipped (weight 0.00)" in summary(page),
        what="digits read out as skipped at weight 0",
    )
    lines = summary(page)
    letters = next(line for line in lines if line.startswith("letters (weight 1.00): "))
    assert letters.count("%") == 3  # its three likeliest symbols, named with their share
    # Both styles running: each style's part of the mixed row's top symbols is named.
    live.call(
        lambda: live.session.submit({"type": "set", "weights": {"letters": 0.5, "digits": 0.5}})
    )
    wait_for(
        lambda: not any("skipped" in line for line in summary(page)), what="both styles running"
    )

    def mixed_names_both() -> bool:
        mixed = next(line for line in summary(page) if line.startswith("mixed: "))
        return "letters" in mixed and "digits" in mixed

    wait_for(mixed_names_both, what="the mixed row split between the two styles")
    live.restore()


def test_search_is_switched_on_from_the_page_and_its_foresight_shows(
    live: LiveServer, page: object
) -> None:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    live.restore()
    page.fill("#search-depth", "5")
    page.check("#search")
    wait_for(lambda: live.call(lambda: live.session.conductor.search) is not None, what="search on")
    settings = live.call(lambda: live.session.conductor.search)
    assert settings is not None and settings.depth == 5
    page.wait_for_function("document.getElementById('search-info').textContent === 'search 8×5'")
    # the chosen path's next symbols, faint, after the text: depth - 1 of them
    page.wait_for_function("document.getElementById('ahead').textContent.length === 4")
    assert page.eval_on_selector("#text", "box => box.lastChild.id") == "ahead"
    page.uncheck("#search")
    wait_for(lambda: live.call(lambda: live.session.conductor.search) is None, what="search off")
    page.wait_for_function("document.getElementById('ahead').textContent === ''")
    assert page.text_content("#search-info") == ""
    live.restore()


def test_on_a_phone_the_page_fits_the_strips_stay_readable_and_the_pad_takes_touch(
    live: LiveServer, browser: object
) -> None:
    from playwright.sync_api import Browser

    assert isinstance(browser, Browser)
    live.restore()
    phone = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=3,
        is_mobile=True,
        has_touch=True,
    )
    page = phone.new_page()
    page.set_default_timeout(60_000)
    assert live.endpoints is not None
    page.goto(live.endpoints.url)
    page.wait_for_function("document.getElementById('status').textContent === 'live'")
    page.wait_for_function("document.querySelectorAll('#text span[data-by]').length > 5")
    # Nothing wider than the screen: no sideways scrolling, every slider and the pad on screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for selector in ("#pad", "input[data-style=letters]", "input[data-style=digits]", "#prime"):
        box = page.locator(selector).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, selector
    # The strips keep their height on a narrow screen (they used to shrink with the canvas):
    # three rows (mixed, letters, digits) of at least 30 CSS pixels each, drawn at full resolution.
    dists = page.locator("#dists").bounding_box()
    assert dists is not None and dists["height"] >= 3 * 30
    assert page.evaluate("document.getElementById('dists').width") >= 3 * 360
    # A tap near the bottom of the pad, where the second style sits, hands it the weight.
    page.locator("#pad").scroll_into_view_if_needed()
    pad = page.locator("#pad").bounding_box()
    assert pad is not None and pad["width"] >= 300
    page.touchscreen.tap(pad["x"] + pad["width"] / 2, pad["y"] + pad["height"] * (0.5 + 0.72 / 2))
    wait_for(
        lambda: live.call(lambda: live.session.target)[1] > 0.9, what="the tap moved the weights"
    )
    wait_for(lambda: written_by(page, 10) == ["digits"] * 10, what="10 symbols by digits")
    phone.close()
    live.restore()


def test_the_page_grows_the_score_and_schedules_audio_for_a_streamed_tune(browser: object) -> None:
    from playwright.sync_api import Browser

    from conductor.engine import Ensemble
    from conductor.generate import Conductor
    from conductor.music import ChordGrid, TuneHeader
    from conductor.performance import MusicOptions, Performance
    from conductor.server.run import BackgroundServer
    from conductor.server.web import abcjs_path
    from conductor.session import Session

    if abcjs_path() is None:
        pytest.skip("abcjs is not installed (make install gets it from npm)")
    styles = shipped_dir()
    paths = [styles / "abc_chorales.safetensors", styles / "abc_irish.safetensors"]
    header = TuneHeader("4/4", "1/8", "G")
    blues = ChordGrid.blues("G")
    options = MusicOptions(header, tempo=360.0, ahead_bars=1.0, chords=blues)
    session = Session(
        Conductor(Ensemble.from_checkpoints(paths), seed=2), rate=0, performer=Performance(options)
    )
    server = BackgroundServer(session, port=0, osc_port=None)
    try:
        assert isinstance(browser, Browser)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.set_default_timeout(60_000)
        assert server.endpoints is not None
        page.goto(server.endpoints.url)
        page.wait_for_function("!document.getElementById('music').hidden")
        assert page.inner_text("#sound") == "sound on"  # silent until asked
        page.click("#sound")  # a user gesture starts the audio
        page.wait_for_function("music.state.ctx && music.state.ctx.state === 'running'")
        page.wait_for_function("document.getElementById('sound').textContent === 'sound off'")
        # sheet music is drawn and grows bar by bar
        page.wait_for_function("document.querySelectorAll('#score svg .abcjs-bar').length >= 3")
        first = page.evaluate("document.querySelectorAll('#score svg .abcjs-note').length")
        page.wait_for_function(
            f"document.querySelectorAll('#score svg .abcjs-note').length > {first}"
        )
        # notes are scheduled on the WebAudio clock, in the future
        page.wait_for_function("window.conductorAudio && window.conductorAudio.scheduled > 8")
        ahead = page.evaluate("window.conductorAudio.lastStart - music.state.ctx.currentTime")
        assert -1.0 < ahead < 5.0
        info = page.inner_text("#music-info")
        assert "bars played" in info and "360" in info and "chords: blues" in info
        # the grid's chords are drawn over the staff and sound under the melody
        page.wait_for_function("document.querySelectorAll('#score svg .abcjs-chord').length >= 3")
        page.wait_for_function("window.conductorAudio.chords > 8")
        page.close()
    finally:
        server.stop()


def test_a_style_is_added_and_taken_out_from_the_library_while_the_text_flows(
    browser: object, two_styles: list[Path], tmp_path: Path
) -> None:
    """The page lists the library; "add" brings digits into the playing ensemble (its slider and
    its place on the pad appear), "remove" takes letters out, all without a restart and with
    the text flowing; the session's record then replays exactly."""
    from playwright.sync_api import Browser

    from conductor.engine import Ensemble
    from conductor.generate import Conductor
    from conductor.library import Library
    from conductor.server.run import BackgroundServer
    from conductor.session import Session, replay

    record = tmp_path / "take.jsonl"
    session = Session(
        Conductor(Ensemble.from_checkpoints(two_styles[:1]), seed=5), [1.0], rate=60,
        record=record, style_paths=[str(two_styles[0])], library=Library(two_styles[0].parent),
    )  # fmt: skip
    server = BackgroundServer(session, port=0, osc_port=None)
    try:
        assert isinstance(browser, Browser) and server.endpoints is not None
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(server.endpoints.url)
        page.wait_for_function("document.querySelectorAll('#text span[data-by]').length > 20")
        page.click("#library-box summary")
        listed = page.eval_on_selector_all(
            "#library li", "items => items.map(i => i.dataset.style)"
        )
        assert {"letters", "digits"} <= set(listed)
        assert page.inner_text("#library li[data-style=letters] button") == "remove"
        assert page.is_disabled("#library li[data-style=letters] button")  # the only style

        def symbols() -> int:
            return int(page.evaluate("document.querySelectorAll('#text span[data-by]').length"))

        before = symbols()
        page.click("#library li[data-style=digits] button.add")
        page.wait_for_selector("input[data-style=digits]")  # its slider, built from the state
        assert server.call(lambda: session.names) == ["letters", "digits"]
        assert page.evaluate("view.pad.length") == 2
        page.wait_for_function(
            f"document.querySelectorAll('#text span[data-by]').length > {before + 30}"
        )
        box = page.locator("input[data-style=digits]").bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 0.99 * box["width"], box["y"] + box["height"] / 2)
        wait_for(lambda: server.call(lambda: session.target)[1] > 0.95, what="digits weighted")
        page.wait_for_function(
            "Array.from(document.querySelectorAll('#text span[data-by]')).slice(-10)"
            ".some(s => s.dataset.by === 'digits')"
        )
        page.click("#library li[data-style=letters] button.remove")
        page.wait_for_function("!document.querySelector('input[data-style=letters]')")
        assert server.call(lambda: session.names) == ["digits"]
        flowing = symbols()
        page.wait_for_function(
            f"document.querySelectorAll('#text span[data-by]').length > {flowing + 30}"
        )
        assert page.inner_text("#library li[data-style=letters] button") == "add"
        page.close()
    finally:
        server.stop()
    result = replay(record, lambda styles: [Path(s) for s in styles])
    assert result.matches is True and result.names == ["digits"]


def test_a_phones_tilt_is_recorded_trained_and_then_conducts(
    browser: object, two_styles: list[Path], tmp_path: Path
) -> None:
    """The mapping panel with this device's tilt as the input: device-orientation events (as a
    phone fires them) in two poses, each recorded with its weights, trained, run; then tilting
    moves the weights, and the panel draws the input it is sent."""
    from playwright.sync_api import Browser

    from conductor.engine import Ensemble
    from conductor.generate import Conductor
    from conductor.server.run import BackgroundServer
    from conductor.session import Session

    session = Session(
        Conductor(Ensemble.from_checkpoints(two_styles), seed=2), [1.0, 0.0], rate=40,
        mappings_dir=tmp_path / "mappings",
    )  # fmt: skip
    server = BackgroundServer(session, port=0, osc_port=None)
    try:
        assert isinstance(browser, Browser) and server.endpoints is not None
        page = browser.new_page(viewport={"width": 1300, "height": 1100})
        page.set_default_timeout(60_000)
        page.goto(server.endpoints.url)
        page.wait_for_function("document.getElementById('status').textContent === 'live'")
        page.click("#mapping-box summary")
        page.select_option("#input-source", "orientation")

        def tilt(beta: float, gamma: float) -> None:
            page.evaluate(
                f"window.dispatchEvent(new DeviceOrientationEvent('deviceorientation', "
                f"{{alpha: 10, beta: {beta}, gamma: {gamma}}}))"
            )
            wait_for(lambda: server.call(lambda: session.input) == (beta, gamma), what="tilt")

        poses = [((0.0, 0.0), [1.0, 0.0]), ((60.0, -30.0), [0.0, 1.0])]
        for count, ((beta, gamma), weights) in enumerate(poses, 1):
            server.call(lambda w=weights: session.submit({"type": "set", "weights": dict(
                zip(["letters", "digits"], w, strict=True))}))  # fmt: skip
            tilt(beta, gamma)
            page.click("#map-record")
            page.wait_for_function(
                f"document.getElementById('mapping-info').textContent.startsWith('{count} example')"
            )
        page.click("#map-train")
        page.wait_for_function(
            "document.getElementById('mapping-info').textContent.includes('· trained')"
        )
        page.check("#map-run")
        wait_for(lambda: server.call(lambda: session.mapping_running), what="running")
        tilt(0.0, 0.0)
        wait_for(lambda: server.call(lambda: session.target)[0] > 0.95, what="letters by tilt")
        tilt(60.0, -30.0)
        wait_for(lambda: server.call(lambda: session.target)[1] > 0.95, what="digits by tilt")
        tilt(30.0, -15.0)  # halfway: both
        wait_for(lambda: 0.2 < server.call(lambda: session.target)[1] < 0.8, what="a blend")
        page.wait_for_function(
            "document.getElementById('input-values').textContent.startsWith('30.00')"
        )
        page.wait_for_function(  # the sliders follow what the mapping gives
            "Math.abs(Number(document.querySelector('input[data-style=digits]').value) - "
            f"{server.call(lambda: session.target)[1]}) < 0.05"
        )
        page.fill("#mapping-name", "tilt")
        page.click("#mapping-form button[type=submit]")
        page.wait_for_function("document.getElementById('mappings').value === 'tilt'")
        assert (tmp_path / "mappings" / "tilt.json").is_file()
        page.close()
    finally:
        server.stop()
