"""`python -m digest.web.screenshots DIR`: the docs' two screenshots, made from the real app.

Serves a throwaway installation of the bundled examples (digest.web.demo), drives Debian's
Chromium with Playwright (the test extra) and writes `DIR/editor-issue.png` (an editor's issue
page) and `DIR/edition-phone.png` (the Open edition at 375 px). PNGs are palette-reduced when
Pillow is present, to keep the repository small.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from digest.web.demo import DEMO_PASSWORD, Demo

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def shrink(path: Path) -> None:
    """Reduce to a 128-colour palette (text and flat colours survive it well)."""
    try:
        from PIL import Image  # optional (not a dependency): without it, no shrinking
    except ModuleNotFoundError:
        return
    with Image.open(path) as image:
        reduced = image.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    reduced.save(path, optimize=True)


def make_screenshots(out: Path, browser: Any = None) -> list[Path]:
    """Write the two screenshots into `out` (with `browser`, a Playwright Browser, when the
    caller already has one); returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    if browser is None:
        from playwright.sync_api import sync_playwright  # Playwright only for screenshots

        with sync_playwright() as p:
            launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                return make_screenshots(out, launched)
            finally:
                launched.close()
    editor_png, phone_png = out / "editor-issue.png", out / "edition-phone.png"
    with tempfile.TemporaryDirectory() as tmp, Demo(Path(tmp)) as demo:
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        desk = context.new_page()
        desk.goto(f"{demo.url}/editor/login")
        desk.fill("input[name=password]", DEMO_PASSWORD)
        desk.click("button[type=submit]")
        issue = f"{demo.url}/editor/issues/{demo.period.key}"
        desk.goto(f"{issue}?tier=strategy_circle&locale=en&w=375")
        desk.wait_for_selector("#edition")
        desk.screenshot(path=editor_png)
        desk.set_viewport_size({"width": 375, "height": 760})
        desk.goto(f"{issue}/editions/open/en")
        desk.screenshot(path=phone_png)
        context.close()
    for path in (editor_png, phone_png):
        shrink(path)
    return [editor_png, phone_png]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m digest.web.screenshots", description=__doc__)
    parser.add_argument("out", type=Path, help="folder to write the PNGs to (e.g. docs/)")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: apt-get install -y chromium fonts-noto-cjk", file=sys.stderr)
        return 2
    for path in make_screenshots(args.out):
        print(f"{path} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
