"""The README's screenshot: `conductor serve` on the shipped styles, conducted by a real browser.

    python scripts/screenshot.py [--out docs/screenshot.png]
    python scripts/screenshot.py --music [--out docs/music.png]
    python scripts/screenshot.py --phone [--out docs/phone.png]

Starts the server on free ports, opens the page in Debian's Chromium (Playwright), glides the
pad from one style towards another while symbols stream, and saves the page as a PNG. With
`--music`: the three folk-tune styles playing a tune (sound on), the pad moved from the Irish
style to the German one while the score grows. With `--phone`: the same page on a phone's
screen (390 × 844, touch), the pad tapped instead of dragged.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from conductor.engine import Ensemble
from conductor.generate import Conductor
from conductor.library import shipped_dir
from conductor.music import TuneHeader
from conductor.performance import MusicOptions, Performance
from conductor.sampling import SamplingParams
from conductor.server.run import BackgroundServer
from conductor.session import Session

MUSIC = ["abc_irish", "abc_german", "abc_scottish"]
STYLES = ["shakespeare", "kjv", "python", "c", "latex", "abc_irish", "abc_german", "abc_scottish"]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--styles-dir", type=Path, default=shipped_dir())
    parser.add_argument("--music", action="store_true", help="the music page")
    parser.add_argument("--phone", action="store_true", help="the page on a phone's screen")
    args = parser.parse_args()
    names = MUSIC if args.music else STYLES
    default = "music" if args.music else "phone" if args.phone else "screenshot"
    out = args.out or Path(f"docs/{default}.png")
    ensemble = Ensemble.from_checkpoints([args.styles_dir / f"{s}.safetensors" for s in names])
    conductor = Conductor(ensemble, params=SamplingParams(temperature=0.8), seed=3)
    options = MusicOptions(TuneHeader("6/8", "1/8", "G", "Morph"), tempo=150)
    performer = Performance(options) if args.music else None
    session = Session(conductor, rate=40, slew=0.5, performer=performer)
    server = BackgroundServer(session, port=0, osc_port=None)
    assert server.endpoints is not None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        if args.phone:
            phone = browser.new_context(
                viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                has_touch=True,
            )  # fmt: skip
            page = phone.new_page()
        else:
            page = browser.new_page(viewport={"width": 1280, "height": 1100 if args.music else 760})
        page.goto(server.endpoints.url)
        page.wait_for_function("document.getElementById('status').textContent === 'live'")
        if args.phone:
            page.locator("#pad").scroll_into_view_if_needed()
            pad = page.locator("#pad").bounding_box()
            assert pad is not None
            for fx, fy in [(0.5, 0.2), (0.75, 0.3), (0.58, 0.27)]:  # first, second, between
                page.touchscreen.tap(pad["x"] + fx * pad["width"], pad["y"] + fy * pad["height"])
                time.sleep(5)
            page.evaluate("window.scrollTo(0, 0)")
            time.sleep(0.5)
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))  # the first screen a phone shows
            browser.close()
            server.stop()
            print(f"wrote {out}")
            return
        if args.music:
            page.click("#sound")
        pad = page.locator("#pad").bounding_box()
        assert pad is not None
        cx, cy, r = (
            pad["x"] + pad["width"] / 2,
            pad["y"] + pad["height"] / 2,
            0.72 * pad["width"] / 2,
        )
        page.mouse.move(cx, cy - r)  # the first style, at the top
        page.mouse.down()
        page.mouse.move(cx, cy - r + 1, steps=2)
        time.sleep(6)
        page.mouse.move(cx + 0.7 * r, cy - 0.7 * r, steps=30)  # towards the second
        time.sleep(6)
        if args.music:  # on to the German style's point, and let the score grow
            page.mouse.move(cx + r * 0.866, cy + r * 0.5, steps=30)
            time.sleep(12)
        # between the first two: the far styles fall under the threshold and show as skipped
        page.mouse.move(cx + 0.3 * r, cy - 0.55 * r, steps=30)
        time.sleep(3)
        page.mouse.up()
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))
        browser.close()
    server.stop()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
