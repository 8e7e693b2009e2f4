"""`digest serve`: the web app (editor pages, subscriber links, archive, webhook) on uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from digest.cli.context import AppContext, fail
from digest.strength import weak_secrets
from digest.web.app import EditorConfigError, create_app
from digest.web.security import UVICORN_OPTIONS

PROXY_WARNING = (
    "digest: warning: publication.base_url is https, so a TLS proxy is in front of this plain-"
    "HTTP server, but web.trusted_proxies is empty: every client then counts as the proxy, so "
    "5 failed logins from anyone lock every editor out and web.subscribe_per_ip_per_hour "
    "sign-ups stop everyone's. Set "
    'web.trusted_proxies to the proxy\'s address (e.g. ["127.0.0.1"]; docs/web.md, '
    '"Client address").'
)
"""`digest serve` cannot speak TLS, so an https base URL means a proxy it must be told about."""


def serve_command(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; the default serves this machine only.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port to listen on.")] = 8000,
) -> None:
    """Serve the web app: editors preview, test-send and approve issues; subscribers unsubscribe,
    set preferences, sign up and read the archive; SendGrid posts its events.

    Binding to anything but localhost requires an editor account (`digest editors add`),
    web.editor_password or web.editor_token. Keys weaker than 32 random bytes and editor
    passwords under 12 characters are refused on any bind.
    """
    import uvicorn  # the server only when serving: every other command starts faster

    app: AppContext = ctx.obj
    weak = weak_secrets(app.settings)
    if weak:
        fail("refusing to serve with weak secrets:\n" + "\n".join(f"  {w}" for w in weak))
    try:
        web_app = create_app(app.settings, app.engine, host=host)
    except EditorConfigError as exc:
        fail(str(exc))
    if app.settings.publication.base_url.startswith("https://") and not (
        app.settings.web.trusted_proxies
    ):
        typer.echo(PROXY_WARNING, err=True)
    typer.echo(f"digest: serving on http://{host}:{port}/ (editor pages at /editor/)", err=True)
    uvicorn.run(web_app, host=host, port=port, log_level="info", **UVICORN_OPTIONS)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
