"""The README's screenshot: `conductor serve` on the shipped styles, conducted by a real browser.

    python scripts/screenshot.py [--out docs/screenshot.png]

Starts the server on free ports, opens the page in Debian's Chromium (Playwright), glides the
pad from one style towards another while symbols stream, and saves the page as a PNG.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from conductor.engine import Ensemble
from conductor.generate import Conductor
from conductor.sampling import SamplingParams
from conductor.server.run import BackgroundServer
from conductor.session import Session

STYLES = ["shakespeare", "kjv", "python", "c", "latex", "abc_irish", "abc_german", "abc_scottish"]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshot.png"))
    parser.add_argument("--styles-dir", type=Path, default=Path("styles"))
    args = parser.parse_args()
    ensemble = Ensemble.from_checkpoints([args.styles_dir / f"{s}.safetensors" for s in STYLES])
    session = Session(
        Conductor(ensemble, params=SamplingParams(temperature=0.8), seed=3), rate=40, slew=0.5
    )
    server = BackgroundServer(session, port=0, osc_port=None)
    assert server.endpoints is not None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 760})
        page.goto(server.endpoints.url)
        page.wait_for_function("document.getElementById('status').textContent === 'live'")
        pad = page.locator("#pad").bounding_box()
        assert pad is not None
        cx, cy, r = (
            pad["x"] + pad["width"] / 2,
            pad["y"] + pad["height"] / 2,
            0.72 * pad["width"] / 2,
        )
        page.mouse.move(cx, cy - r)  # shakespeare, at the top
        page.mouse.down()
        page.mouse.move(cx, cy - r + 1, steps=2)
        time.sleep(6)
        page.mouse.move(cx + 0.7 * r, cy - 0.7 * r, steps=30)  # towards kjv
        time.sleep(6)
        page.mouse.move(cx + 0.2 * r, cy - 0.3 * r, steps=30)  # the middle: everyone a little
        time.sleep(3)
        page.mouse.up()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out))
        browser.close()
    server.stop()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
