"""POST /webhooks/sendgrid: SendGrid's Event Webhook over HTTP, and nothing more.

Verification (ECDSA signature over timestamp + raw body, timestamp freshness) and applying the
events live in `digest.delivery.events.handle_webhook`; this route hands it the raw body and the two
headers, off the event loop (a 10,000-event batch is real work), and answers with its status:
403 when the request is not SendGrid's (nothing was read), 400 when the signed body is not a JSON
list, 2xx once the batch is processed (a bad event is rejected on its own), so SendGrid stops
retrying.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from digest.delivery.events import SIGNATURE_HEADER, TIMESTAMP_HEADER, handle_webhook
from digest.web.deps import web

PATH = "/webhooks/sendgrid"


async def sendgrid_events(request: Request) -> Response:
    state = web(request)
    body = await request.body()
    report = await run_in_threadpool(
        handle_webhook,
        state.engine,
        state.settings,
        body,
        signature=request.headers.get(SIGNATURE_HEADER, ""),
        timestamp=request.headers.get(TIMESTAMP_HEADER, ""),
        now=state.now(),
    )
    return JSONResponse(
        {
            "detail": report.detail,
            "received": report.received,
            "stored": report.stored,
            "duplicates": report.duplicates,
            "rejected": report.rejected,
        },
        status_code=report.status,
    )


def routes() -> list[BaseRoute]:
    return [Route(PATH, sendgrid_events, methods=["POST"])]
