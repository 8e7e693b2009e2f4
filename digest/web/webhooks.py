"""POST /webhooks/sendgrid: SendGrid's Event Webhook over HTTP, and nothing more.

The verification (ECDSA signature over timestamp + raw body, timestamp freshness) and the
handling of events live in `digest.send.events.handle_webhook`, so the CLI, tests and this
route share them. This route only hands over the raw body and headers and maps the outcome to
a status: 403 when the request is not SendGrid's (nothing has changed), 2xx otherwise, so
SendGrid does not retry what was stored.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from digest.web.app import web

log = logging.getLogger(__name__)

PATH = "/webhooks/sendgrid"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


def _handler() -> Callable[..., Any] | None:
    try:
        module = importlib.import_module("digest.send.events")
    except ModuleNotFoundError:
        return None
    found: Callable[..., Any] | None = getattr(module, "handle_webhook", None)
    return found


async def sendgrid_events(request: Request) -> Response:
    handle = _handler()
    if handle is None:
        return JSONResponse({"error": "event handling is not installed"}, status_code=503)
    state = web(request)
    body = await request.body()
    signature = request.headers.get(SIGNATURE_HEADER, "")
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    outcome = await run_in_threadpool(
        handle,
        state.engine,
        state.settings,
        body,
        signature=signature,
        timestamp=timestamp,
        now=state.now(),
    )
    return _respond(outcome)


def _respond(outcome: Any) -> Response:
    status = int(getattr(outcome, "status", 200))
    detail = getattr(outcome, "detail", "") or ""
    return JSONResponse({"detail": str(detail)}, status_code=status)


def routes() -> list[BaseRoute]:
    return [Route(PATH, sendgrid_events, methods=["POST"])]
