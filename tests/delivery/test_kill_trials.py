"""SIGKILL trials through real `digest send` processes: the CI share of `bench/bench_kill.py`.

Five kills per provider at random instants, each followed by a resume and an audit against what
the receiving side saw (aiosmtpd, an HTTP server answering like SendGrid, the outbox folder):
no duplicate, no unexplained loss, uncertain only what was in flight (see the bench's docstring).
"""

from __future__ import annotations

import importlib.util
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytest.importorskip("aiosmtpd", reason="install the test extra: pip install -e '.[test]'")

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_kill.py"
TRIALS = 5


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_kill", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_kill"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def setup(bench: ModuleType) -> Iterator[Any]:
    with bench.deployment(audience=120) as made:
        yield made


@pytest.mark.parametrize("provider", ["smtp", "outbox", "sendgrid"])
def test_sigkill_at_random_instants_then_resume_is_exactly_once(
    bench: ModuleType, setup: Any, provider: str
) -> None:
    results = bench.run_trials(setup, provider, TRIALS, random.Random(provider), lambda t: None)
    problems = [(round(t.killed_after, 2), t.problems[:3]) for t in results if t.problems]
    assert problems == []
