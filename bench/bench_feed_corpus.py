"""Figures: feedparser's own test corpus through the feed importer.

Per folder: samples; imported (the feed was read, possibly with some entries refused); of those,
with warnings; refused whole (and why); entries imported and entries refused (and why); and any
traceback (the goal is none). The vendored slice is the default; pass the unpacked sdist's
`tests/` folder for the whole corpus (`pip download feedparser==6.0.11 --no-binary :all:
--no-deps`, then untar). Nothing is fetched.

Run: python bench/bench_feed_corpus.py [FOLDER]
"""

from __future__ import annotations

import re
import sys
import time
from collections import Counter
from pathlib import Path

from digest.signals.readers.base import SourceError
from digest.signals.readers.feeds import parse_feed

VENDORED = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "feedparser"


def _reason(error: SourceError, where: bool = True) -> str:
    """The reason without the entry or place it names, so equal reasons count together."""
    text = (
        error.reason.split("): ", 1)[-1] if error.reason.startswith("feed header") else error.reason
    )
    if where and text.startswith(("entry ", "feed: ")):
        text = text.split(": ", 1)[-1]
    return re.sub(r"&[\w.-]+;(, )?", "&…;", text.split(" (")[0].split(" declared as ")[0])[:80]


def main(root: Path) -> None:
    figures: Counter[tuple[str, str]] = Counter()
    reasons: Counter[str] = Counter()
    started = time.perf_counter()
    for path in sorted(root.rglob("*.xml")):
        folder = str(path.parent.relative_to(root))
        figures[folder, "samples"] += 1
        try:
            parsed = parse_feed(path.name, path.read_bytes(), {})
        except SourceError as exc:
            figures[folder, "refused"] += 1
            reasons[f"refused: {_reason(exc, where=False)}"] += 1
            continue
        except Exception as exc:  # the figure that must stay 0
            figures[folder, "tracebacks"] += 1
            reasons[f"traceback: {type(exc).__name__}: {exc}"] += 1
            continue
        figures[folder, "imported"] += 1
        figures[folder, "with warnings"] += bool(parsed.warnings)
        figures[folder, "entries imported"] += len(parsed.signals)
        figures[folder, "entries refused"] += len(parsed.errors)
        reasons.update(f"entry refused: {_reason(e)}" for e in parsed.errors)
        reasons.update(f"warning: {_reason(w)}" for w in parsed.warnings)
    elapsed = time.perf_counter() - started
    _print(figures, reasons, elapsed)


def _print(figures: Counter[tuple[str, str]], reasons: Counter[str], elapsed: float) -> None:
    columns = ("samples", "imported", "with warnings", "refused", "tracebacks")
    columns += ("entries imported", "entries refused")
    folders = sorted({folder for folder, _ in figures})
    print(f"{'folder':<22}" + "".join(f"{c:>18}" for c in columns))
    for folder in [*folders, "TOTAL"]:
        row = [
            sum(figures[f, c] for f in folders) if folder == "TOTAL" else figures[folder, c]
            for c in columns
        ]
        print(f"{folder:<22}" + "".join(f"{v:>18,}" for v in row))
    print(f"\n{elapsed:.2f} s in all\n")
    for reason, count in reasons.most_common():
        print(f"{count:>6}  {reason}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else VENDORED)
