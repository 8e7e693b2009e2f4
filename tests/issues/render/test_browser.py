"""The example editions in a real browser: no horizontal scrolling on a 375 px phone.

Runs Debian's headless Chromium on each edition inside a 375 px wide iframe (headless windows
cannot be narrower than 500 px) and reads the document's scroll width back. Skips without it.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from digest.config import Settings
from digest.issues.collect import from_files
from digest.issues.editions import build_issue
from digest.period import parse_period

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "signals"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--virtual-time-budget=5000",
    "--dump-dom",
]

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)"
)


def overflows(pages: list[str], width: int, tmp_path: Path) -> list[int]:
    """How far each page overflows sideways (scroll width - client width) in a `width` px
    iframe, all in one browser launch."""
    frames = "".join(
        f'<iframe style="width:{width}px;height:600px;border:0" '
        f'srcdoc="{html.escape(page, quote=True)}"></iframe>'
        for page in pages
    )
    script = (
        "window.onload=function(){document.body.setAttribute('data-sw',"
        "[].map.call(document.querySelectorAll('iframe'),function(f){"
        "var d=f.contentDocument.documentElement;return d.scrollWidth-d.clientWidth}).join(','))}"
    )
    wrapper = tmp_path / "frames.html"
    wrapper.write_text(f"<!doctype html><body>{frames}<script>{script}</script></body>")
    assert CHROMIUM is not None
    out = subprocess.run(
        [CHROMIUM, *FLAGS, wrapper.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    ).stdout
    match = re.search(r'data-sw="([-\d,]+)"', out)
    assert match, "Chromium did not report the widths"
    return [int(w) for w in match.group(1).split(",")]


def test_no_edition_scrolls_sideways_at_375_px(tmp_path: Path) -> None:
    settings = Settings()
    week = parse_period("2026-W47")
    issue = build_issue(from_files([str(EXAMPLES)], settings.sources, week).signals, settings, week)
    assert overflows([e.html for e in issue.editions], 375, tmp_path) == [0] * len(issue.editions)
