"""Benchmark: build all six editions (3 tiers x 2 languages) of a 40-signal issue.

Goal (issue 14): <= 10 ms per issue on one core after start-up, Jinja and MJML included, and
<= 2x mjml-python's own compile time of the same six documents (Jinja, views, text and checks
together no dearer than MJML itself). The reference `mjml` 4 (npm, in-process in Node, warmed up)
compiling the same documents is printed for scale. The Node comparison is skipped, with a
message, when Node, npm or the package (installed on first run into bench/node/) is unavailable.

Run: python bench/bench_build.py [--rounds N] [--no-node]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mjml import mjml2html

from digest.config import Settings
from digest.issues.checks import check_edition, leak_needles
from digest.issues.collect import from_files
from digest.issues.editions import build_issue
from digest.issues.group import group
from digest.issues.policy import policies
from digest.issues.render.engine import renderer_for, template_dirs
from digest.issues.render.view import ItemCache, build_view
from digest.model import LANGS, Signal
from digest.period import parse_period

ROOT = Path(__file__).resolve().parents[1]
NODE_DIR = ROOT / "bench" / "node"
WEEK = parse_period("2026-W47")
NODE_SCRIPT = r"""
const mjml2html = require(process.argv[2]);
const docs = JSON.parse(require("fs").readFileSync(process.argv[3], "utf8"));
const rounds = parseInt(process.argv[4], 10);
const once = () => { for (const d of docs) mjml2html(d, { validationLevel: "skip" }); };
for (let i = 0; i < 5; i++) once();  // warm-up: JIT and mjml's own caches
const times = [];
for (let i = 0; i < rounds; i++) {
  const t = process.hrtime.bigint(); once(); times.push(Number(process.hrtime.bigint() - t) / 1e6);
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({ median_ms: times[Math.floor(times.length / 2)],
                             version: require(process.argv[2] + "/package.json").version }));
"""


def forty_signals(settings: Settings) -> list[Signal]:
    """The bundled examples of both weeks moved into one week, repeated up to 40 distinct ids."""
    base = [
        s
        for s in from_files(
            [str(ROOT / "examples" / "signals")],
            settings.sources,
            parse_period("2026-11-01..2026-11-30"),
        ).publishable
    ]
    out = []
    for i in range(40):
        s = base[i % len(base)]
        suffix = "" if i < len(base) else f" ({i})"
        out.append(
            s.model_copy(
                update={
                    "id": f"{s.id}-{i}",
                    "titles": {k: v + suffix for k, v in s.titles.items()},
                    "title": s.title + suffix,
                    "published": WEEK.start + dt.timedelta(days=i % 7),
                }
            )
        )
    return out


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to CPU {core}"
    return "not pinned (no sched_setaffinity)"


def timed(fn: Callable[[], object], rounds: int) -> float:
    """Median CPU milliseconds of this thread running `fn` over `rounds` runs, after three
    warm-up runs: on a shared machine wall-clock time mostly measures the other processes."""
    for _ in range(3):
        fn()
    samples = []
    for _ in range(rounds):
        start = time.thread_time()
        fn()
        samples.append((time.thread_time() - start) * 1000)
    return statistics.median(samples)


def mjml_documents(settings: Settings, signals: list[Signal]) -> list[str]:
    """The six MJML documents our build compiles, exactly as rendered by Jinja."""
    grouped = group(signals, settings.editions.class_order, settings.editions.duplicate_threshold)
    renderer = renderer_for(template_dirs(settings))
    return [
        renderer.mjml(build_view(grouped.sections, policy, locale, settings, WEEK), {})
        for policy in policies(settings).values()
        for locale in LANGS
    ]


def stage_times(settings: Settings, signals: list[Signal], rounds: int) -> dict[str, float]:
    """Median ms per stage of one build, run stage by stage: where the time goes."""
    grouped = group(signals, settings.editions.class_order, settings.editions.duplicate_threshold)
    renderer = renderer_for(template_dirs(settings))
    pols = list(policies(settings).values())
    cache = ItemCache()
    views = [
        (p, build_view(grouped.sections, p, lang, settings, WEEK, cache=cache))
        for p in pols
        for lang in LANGS
    ]
    docs = [renderer.mjml(v, cache.html) for _, v in views]
    pairs = list(zip(views, docs, strict=True))
    htmls = [renderer.html(v, d) for (_, v), d in zip(views, docs, strict=True)]
    texts = [renderer.text(v, {}) for _, v in views]
    needles = {p.tier: leak_needles(signals, p.hidden_fields) for p in pols}

    def jinja() -> None:
        shared: dict[str, str] = {}
        for _, v in views:
            renderer.mjml(v, shared)

    def text_parts() -> None:
        wrapped: dict[str, list[str]] = {}  # one build's memo of wrapped lines, as in the build
        for _, v in views:
            renderer.text(v, wrapped)

    def checks() -> None:
        for (p, v), h, t in zip(views, htmls, texts, strict=True):
            check_edition(
                subject=v.subject,
                preheader=v.preheader,
                html=h,
                text=t,
                base_url=v.base_url,
                postal_address=v.postal_address,
                needles=needles[p.tier],
            )

    return {
        "group": timed(
            lambda: group(
                signals, settings.editions.class_order, settings.editions.duplicate_threshold
            ),
            rounds,
        ),
        "views": timed(
            lambda: [
                build_view(grouped.sections, p, lang, settings, WEEK, cache=ItemCache())
                for p in pols
                for lang in LANGS
            ],
            rounds,
        ),
        "Jinja (HTML)": timed(jinja, rounds),
        "MJML": timed(lambda: [renderer.html(v, d) for (_, v), d in pairs], rounds),
        "text part": timed(text_parts, rounds),
        "checks": timed(checks, rounds),
    }


def node_yardstick(docs: list[str], rounds: int) -> tuple[float, str] | str:
    """(median ms for the six documents, mjml version), or why it was skipped."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        return "skipped: node and npm are needed for the mjml@4 yardstick"
    package = NODE_DIR / "node_modules" / "mjml"
    if not package.is_dir():
        print("installing mjml@4 into bench/node/ (first run only) ...")
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [npm, "install", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund", "mjml@4"],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0 or not package.is_dir():
            return f"skipped: npm install mjml@4 failed: {done.stderr.strip()[-300:]}"
    with tempfile.TemporaryDirectory() as tmp:
        script, data = Path(tmp) / "bench.js", Path(tmp) / "docs.json"
        script.write_text(NODE_SCRIPT)
        data.write_text(json.dumps(docs))
        run = subprocess.run(
            [node, str(script), str(package), str(data), str(rounds)],
            capture_output=True,
            text=True,
        )
    if run.returncode != 0:
        return f"skipped: node failed: {run.stderr.strip()[-300:]}"
    result = json.loads(run.stdout)
    return float(result["median_ms"]), str(result["version"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--no-node", action="store_true", help="skip the mjml@4 yardstick")
    args = parser.parse_args()
    print(pin_one_core())
    settings = Settings.model_validate({"publication": {"base_url": "https://news.example.org"}})
    signals = forty_signals(settings)
    issue = build_issue(signals, settings, WEEK)
    assert len(issue.editions) == 6 and not issue.failed
    shown = {f"{e.tier}.{e.locale}": len(e.signal_ids) for e in issue.editions}
    sizes = [e.html_bytes / 1000 for e in issue.editions]
    print(f"issue: {len(signals)} signals; items shown per edition: {shown}")
    print(f"HTML per edition: {min(sizes):.1f}-{max(sizes):.1f} KB")

    build_ms = timed(lambda: build_issue(signals, settings, WEEK), args.rounds)
    docs = mjml_documents(settings, signals)
    mjml_ms = timed(
        lambda: [mjml2html(d, fonts={}, disable_comments=True) for d in docs], args.rounds
    )
    print(
        f"our build, six editions (group, views, Jinja, MJML, text, checks): {build_ms:.1f} ms"
        f" CPU per issue (goal <= 10 ms)"
    )
    print(f"  of which mjml-python compiling the six documents: {mjml_ms:.1f} ms")
    print(
        f"  whole build / mjml-python: {build_ms / mjml_ms:.1f}x (goal <= 2x: Jinja, views, "
        "text and checks together no dearer than MJML itself)"
    )
    stages = stage_times(settings, signals, args.rounds)
    print(
        "  stages, each timed alone (CPU ms): "
        + ", ".join(f"{name} {ms:.1f}" for name, ms in stages.items())
    )

    if args.no_node:
        print("mjml@4 yardstick: skipped (--no-node)")
        return
    node = node_yardstick(docs, max(10, args.rounds // 2))
    if isinstance(node, str):
        print(f"mjml@4 yardstick: {node}")
        return
    node_ms, version = node
    print(
        f"reference mjml {version} (Node, in-process, warm), same six documents: {node_ms:.1f} ms"
    )
    print(
        f"  ratio to our whole build: {node_ms / build_ms:.1f}x (goal >= 25x); "
        f"to mjml-python alone: {node_ms / mjml_ms:.1f}x"
    )


if __name__ == "__main__":
    main()
