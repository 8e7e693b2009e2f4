"""Where bundled files live: inside the wheel, or at the top of a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def bundled(name: str) -> Path:
    """The bundled folder `name` (templates, subscribers, examples) in whichever layout runs."""
    for candidate in (_PACKAGE / "_bundled" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"bundled folder {name!r} is missing from this installation")


def example_signals() -> Path:
    return bundled("examples") / "signals"


def example_audience() -> Path:
    """The example subscriber list `digest run` imports along with the example signals."""
    return bundled("subscribers") / "example.csv"
