"""`digest` with a pause point, for the phase-kill tests (`test_phase_kills.py`).

Run as `python pause_harness.py --config … send …`: the real CLI, in a real process, except
that the N-th call of the chosen phase's function stops (after its work, before it returns, so
inside the phase's open transaction or with the provider's answer not yet passed back), writes
the marker file and waits to be killed. Environment: PAUSE_PHASE (claiming, sending,
recording), PAUSE_AT (N, default 1), PAUSE_MARKER (path). Nothing is patched into stored state.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from digest.delivery import ledger
from digest.delivery.providers.smtp import SmtpProvider

calls = 0


def pausing(work: Callable[..., Any]) -> Callable[..., Any]:
    """`work`, stopping for good on its PAUSE_AT-th call once it has done its work."""

    @functools.wraps(work)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        global calls
        result = work(*args, **kwargs)
        calls += 1
        if calls == int(os.environ.get("PAUSE_AT", "1")):
            Path(os.environ["PAUSE_MARKER"]).write_text("paused")
            time.sleep(3600)
        return result

    return wrapper


def install(phase: str) -> None:
    if phase == "claiming":  # the claim's rows selected and updated, not yet committed
        ledger.claim = pausing(ledger.claim)  # type: ignore[method-assign]
    elif phase == "sending":  # the server took the message, the answer not yet returned
        SmtpProvider.send = pausing(SmtpProvider.send)  # type: ignore[method-assign]
    elif phase == "recording":  # the outcome recorded and the next row handed, not committed
        ledger.accept_and_hand = pausing(ledger.accept_and_hand)  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown PAUSE_PHASE {phase!r}")


if __name__ == "__main__":
    if os.environ.get("PAUSE_PHASE"):  # else the plain CLI: the resume
        install(os.environ["PAUSE_PHASE"])
    from digest.cli import main

    main()
