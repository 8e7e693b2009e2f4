"""The hostile review's login attack, re-run: 300 wrong passwords, then the right one.

Before the throttle all 300 were checked (6.6 s) and the right password then worked at once.
This drives the real app in-process (httpx's ASGI transport) against a fresh SQLite database
with the bootstrap password and prints what each answer was, how many guesses were actually
checked, and how long the attack took.

With --at-once the guesses are sent together rather than one after another (the race the
throttle once lost: 38 of 200 checked against a real `digest serve`).

Run: python bench/bench_login.py [--guesses N] [--at-once]
"""

from __future__ import annotations

import argparse
import logging
import re
import tempfile
import time
from collections import Counter
from pathlib import Path

import anyio
import httpx

from digest.storage.db import open_database
from digest.web.app import create_app
from digest.web.demo import DEMO_PASSWORD, demo_settings

BASE = "http://127.0.0.1:8000"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def attack(guesses: int, root: Path, at_once: bool) -> tuple[Counter[int], int, float]:
    settings = demo_settings(root, BASE)
    app = create_app(settings, open_database(settings.database.url))
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        token = CSRF.search((await client.get("/editor/login")).text)
        assert token
        answers: Counter[int] = Counter()
        started = time.perf_counter()

        async def guess(n: int) -> None:
            assert token
            form = {"csrf": token.group(1), "password": f"guess-{n}"}
            answers[(await client.post("/editor/login", data=form)).status_code] += 1

        if at_once:
            async with anyio.create_task_group() as group:
                for n in range(guesses):
                    group.start_soon(guess, n)
        else:
            for n in range(guesses):
                await guess(n)
        elapsed = time.perf_counter() - started
        form = {"csrf": token.group(1), "password": DEMO_PASSWORD}
        right = (await client.post("/editor/login", data=form)).status_code
    return answers, right, elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--guesses", type=int, default=300)
    parser.add_argument("--at-once", action="store_true", help="send the guesses together")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # one logged refusal per guess would bury the figures
    with tempfile.TemporaryDirectory() as tmp:
        answers, right, elapsed = anyio.run(attack, args.guesses, Path(tmp), args.at_once)
    how = "at once" if args.at_once else "one by one"
    counts = dict(sorted(answers.items()))
    print(f"{args.guesses} wrong passwords {how} in {elapsed:.2f} s: {counts}")
    print(f"checked (401): {answers[401]}; refused unchecked (429): {answers[429]}")
    print(f"then the right password: {right} ({'refused' if right == 429 else 'let in'})")


if __name__ == "__main__":
    main()
