"""Rendering one edition view to MJML → HTML and to plain text, with errors that name a template.

The Jinja environment is sandboxed and autoescaping: signal text is data, so `{{ 7*7 }}` in a
title is printed, never evaluated. Templates are looked up most-specific-first
(`{tier}.mjml.j2`, then `digest.mjml.j2`) in a chain of folders (the configured user folder, then
./templates in the working directory, then the bundled ones), so a publication restyles by
copying one file, without forking.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict
from functools import cache
from gettext import NullTranslations
from pathlib import Path
from types import FunctionType, TracebackType
from typing import Any

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
)
from jinja2.runtime import LoopContext
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup
from mjml import mjml2html

from digest.config import Settings
from digest.issues.render.i18n import translations
from digest.issues.render.palette import DARK, LIGHT, Palette
from digest.issues.render.view import (
    EditionView,
    Invite,
    Item,
    Link,
    Lock,
    Note,
    Para,
    SectionView,
    Step,
)
from digest.issues.render.widths import wrap
from digest.model import Lang
from digest.resources import bundled
from digest.scale import METER_STEPS, meter_text

FALLBACK_HTML = "digest.mjml.j2"
FALLBACK_TEXT = "digest.txt.j2"
ITEM_FULL = "partials/_item.mjml.j2"
ITEM_MEMBER = "partials/_member.mjml.j2"
ITEM_COMPACT = "partials/_compact.mjml.j2"
SCHEMES_CSS = "partials/_schemes.css.j2"
MEMBER_SLOT = Markup("<!--member-slot-->")
"""Where an item's member part goes in its public markup: signal text can never produce it
(autoescaping turns a typed `<!--` into `&lt;!--`)."""
TEXT_COLUMNS = 76
"""The text part's hard wrap (CJK counts 2); only a line holding one long URL is wider."""


class RenderError(Exception):
    """A template or its MJML is wrong: the message names the template and the line."""


def template_dirs(settings: Settings, cwd: Path | None = None) -> tuple[Path, ...]:
    """Where templates are looked for, first match wins."""
    dirs: list[Path] = []
    if settings.editions.templates_dir:
        user = Path(settings.editions.templates_dir).expanduser()
        if not user.is_dir():
            raise RenderError(f"editions.templates_dir: {user} is not a folder")
        dirs.append(user.resolve())
    local = (cwd or Path.cwd()) / "templates"
    if local.is_dir():
        dirs.append(local.resolve())
    shipped = bundled("templates").resolve()
    if shipped not in dirs:
        dirs.append(shipped)
    return tuple(dirs)


_VIEW_TYPES: frozenset[type] = frozenset(
    {EditionView, SectionView, Item, Para, Note, Invite, Link, Lock, Step, Palette, LoopContext}
)
"""Our frozen view values, and Jinja's own `loop` (`loop.first`, `loop.last`)."""


class ViewSandbox(SandboxedEnvironment):
    """The sandbox, with a fast path for our own frozen view values.

    The view classes are plain dataclasses holding strings, numbers and tuples; reading one of
    their public fields cannot reach anything dangerous, so it skips the sandbox's per-access
    safety analysis (the costliest part of rendering). Everything else, signal strings
    included, still goes through the full sandbox.
    """

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Our own `item_html` and `_` are called directly: they are not user code, and the
        sandbox's per-call checks cost more than the work they do."""
        if getattr(__obj, "_digest_own", False) is True and type(__obj) is FunctionType:
            kwargs.pop("_loop_vars", None)  # Jinja's own keywords, for context functions
            kwargs.pop("_block_vars", None)
            return __obj(*args, **kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) in _VIEW_TYPES and not attribute.startswith("_"):
            try:
                return getattr(obj, attribute)
            except AttributeError:
                pass
        return super().getattr(obj, attribute)


_LINE_BREAKS = re.compile(r"\r\n|[\r\n\v\f\x85\u2028\u2029]")


def one_line_value(value: Any) -> Any:
    """A printed value with any line break as a space: in the text part a CR/LF inside signal
    text would otherwise break a sentence mid-line (the template's own newlines are kept)."""
    if isinstance(value, str) and not value.isprintable() and _LINE_BREAKS.search(value):
        return _LINE_BREAKS.sub(" ", value)
    return value


def _underscore(catalog: NullTranslations, *, html: bool) -> Callable[..., str]:
    """`_("…")` for the templates, as Jinja's newstyle gettext does it (the translation, as
    Markup where output is escaped, always formatted with its keywords, which Markup escapes)
    but called directly: through the sandbox each call cost ~9 µs, and an edition makes
    hundreds. Messages come from our catalogs, never from signal text."""
    translated = cache(catalog.gettext)
    kind: Callable[[str], str] = Markup if html else str

    def underscore(message: str, **variables: Any) -> str:
        return kind(translated(message)) % variables

    underscore._digest_own = True  # type: ignore[attr-defined]
    return underscore


def _environment(dirs: Sequence[Path], locale: Lang, *, html: bool) -> SandboxedEnvironment:
    loader: BaseLoader = ChoiceLoader([FileSystemLoader(str(d)) for d in dirs])
    env = ViewSandbox(
        loader=loader,
        autoescape=html,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
        extensions=["jinja2.ext.i18n"],
        finalize=None if html else one_line_value,
    )
    catalog = translations(locale)
    env.install_gettext_translations(catalog, newstyle=True)  # type: ignore[attr-defined]
    env.globals["_"] = _underscore(catalog, html=html)
    if not html:
        env.filters["meter"] = meter_text
    return env


def _where(exc: BaseException) -> str:
    """`partials/_item.mjml.j2, line 12` from a Jinja error or its rewritten traceback."""
    if isinstance(exc, TemplateSyntaxError):
        return f"{exc.name or exc.filename or '?'}, line {exc.lineno}"
    tb: TracebackType | None = exc.__traceback__
    found = ""
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name.endswith(".j2"):
            found = f"{name}, line {tb.tb_lineno}"
        tb = tb.tb_next
    return found or "template (line unknown)"


_MJ_TAG = re.compile(r"<(/?)(mj[\w-]*)\b(?:[^>\"']|\"[^\"]*\"|'[^']*')*?(/?)>")


def mjml_structure_problem(mjml: str) -> tuple[int, str] | None:
    """(line, problem) for the first unbalanced MJML tag: mjml-python's errors carry no line."""
    stack: list[tuple[str, int]] = []
    for match in _MJ_TAG.finditer(mjml):
        closing, name, self_closing = match.group(1), match.group(2), match.group(3)
        line = mjml.count("\n", 0, match.start()) + 1
        if self_closing:
            continue
        if not closing:
            stack.append((name, line))
        elif not stack or stack[-1][0] != name:
            expected = f"</{stack[-1][0]}> (opened on line {stack[-1][1]})" if stack else "nothing"
            return line, f"</{name}> closes {expected}"
        else:
            stack.pop()
    if stack:
        name, line = stack[-1]
        return line, f"<{name}> is never closed"
    return None


_JINJA = re.compile(r"{{.*?}}|{%.*?%}|{#.*?#}")


def _template_line(env: SandboxedEnvironment, names: Sequence[str], text: str) -> str | None:
    """The template line whose fixed text produced an output line (best effort)."""
    target = text.strip()
    for name in names:
        try:
            source, filename, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
        except TemplateNotFound:
            continue
        for number, line in enumerate(source.splitlines(), 1):
            pieces = [p.strip() for p in _JINJA.split(line) if p.strip()]
            if pieces and all(p in target for p in pieces) and target.startswith(pieces[0][:8]):
                return f"{filename}, line {number}"
    return None


class Renderer:
    """Compiled templates for one folder chain, reused across editions and builds."""

    def __init__(self, dirs: Sequence[Path]) -> None:
        self.dirs = tuple(dirs)
        self._envs: dict[tuple[Lang, bool], SandboxedEnvironment] = {}
        self._css: dict[Lang, Markup] = {}
        self._chosen: dict[tuple[Lang, str, bool], Template] = {}

    def env(self, locale: Lang, *, html: bool) -> SandboxedEnvironment:
        key = (locale, html)
        if key not in self._envs:
            self._envs[key] = _environment(self.dirs, locale, html=html)
        return self._envs[key]

    def _template(self, locale: Lang, tier: str, html: bool) -> Template:
        """The tier's template or the fallback, looked up once (a miss is not cached by Jinja:
        every lookup of an absent tier template would search the folders again)."""
        key = (locale, tier, html)
        found = self._chosen.get(key)
        if found is None:
            found = self._chosen[key] = self._select(locale, tier, html)
        return found

    def _select(self, locale: Lang, tier: str, html: bool) -> Template:
        env = self.env(locale, html=html)
        suffix = "mjml.j2" if html else "txt.j2"
        fallback = FALLBACK_HTML if html else FALLBACK_TEXT
        try:
            return env.select_template([f"{tier}.{suffix}", fallback])
        except TemplateSyntaxError as exc:
            raise RenderError(f"template error at {_where(exc)}: {exc.message}") from exc
        except TemplateNotFound as exc:
            raise RenderError(
                f"no template {exc.name} in {', '.join(map(str, self.dirs))}"
            ) from exc

    def _schemes_css(self, locale: Lang) -> Markup:
        """The dark-scheme stylesheet, rendered once: it depends on the palette alone."""
        if locale not in self._css:
            env = self.env(locale, html=True)
            self._css[locale] = Markup(
                env.get_template(SCHEMES_CSS).render({"light": LIGHT, "dark": DARK})
            )
        return self._css[locale]

    def _item_renderer(
        self, locale: Lang, fragments: dict[str, str] | None
    ) -> Callable[[Item], Markup]:
        """`item_html(item)` for the templates: each item's markup rendered once per build.

        An item's public markup (`Item.key`: signal × language × form × link kind) and its
        member part (`Item.member_key`: signal × language × member fields, or the Open lock
        line) are rendered once and reused by every tier and interest set that shows them: the
        items, not the editions, are what costs.
        """
        env = self.env(locale, html=True)
        store: dict[str, str] = fragments if fragments is not None else {}
        shared = {"locale": locale, "steps": METER_STEPS, "light": LIGHT, "dark": DARK}

        def fragment(name: str, key: str, item: Item) -> str:
            html = store.get(key)
            if html is None:
                context = {"item": item, "member_slot": MEMBER_SLOT, **shared}
                html = store[key] = env.get_template(name).render(context)
            return html

        def item_html(item: Item) -> Markup:
            if item.compact:
                return Markup(fragment(ITEM_COMPACT, item.key, item))
            head = fragment(ITEM_FULL, item.key, item)
            member = fragment(ITEM_MEMBER, "m|" + item.member_key, item) if item.member_key else ""
            return Markup(head.replace(MEMBER_SLOT, member, 1))

        item_html._digest_own = True  # type: ignore[attr-defined]
        return item_html

    def _render(
        self, template: Template, view: EditionView, fragments: dict[str, str] | None = None
    ) -> str:
        context: dict[str, Any] = {"view": view, "light": LIGHT, "dark": DARK}
        if template.environment.autoescape:
            context["item_html"] = self._item_renderer(view.locale, fragments)
            context["schemes_css"] = self._schemes_css(view.locale)
        try:
            return template.render(context)
        except TemplateError as exc:
            raise RenderError(f"template error at {_where(exc)}: {exc}") from exc
        except Exception as exc:
            raise RenderError(
                f"template error at {_where(exc)}: {exc.__class__.__name__}: {exc}"
            ) from exc

    def template_name(self, view: EditionView, *, html: bool = True) -> str:
        return str(self._template(view.locale, view.tier, html).filename)

    def mjml(self, view: EditionView, fragments: dict[str, str] | None = None) -> str:
        return self._render(self._template(view.locale, view.tier, True), view, fragments)

    def text(self, view: EditionView, wrapped: dict[str, list[str]] | None = None) -> str:
        """The text part: blank lines collapsed to one, then hard-wrapped at TEXT_COLUMNS
        (`wrapped` remembers each line's wrap across the editions of one build)."""
        rendered = self._render(self._template(view.locale, view.tier, False), view)
        lines = [line.rstrip() for line in rendered.split("\n")]
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
        return wrap(text, TEXT_COLUMNS, wrapped) + "\n"

    def html(self, view: EditionView, mjml: str) -> str:
        try:
            return str(mjml2html(mjml, fonts={}, disable_comments=True))
        except ValueError as exc:
            raise RenderError(self._mjml_message(view, mjml, exc)) from exc

    def _mjml_message(self, view: EditionView, mjml: str, exc: ValueError) -> str:
        template = self._template(view.locale, view.tier, True)
        message = f"MJML error in the edition rendered from {template.filename}: {exc}"
        problem = mjml_structure_problem(mjml)
        if problem is None:
            return message
        line, what = problem
        text = mjml.splitlines()[line - 1]
        env = self.env(view.locale, html=True)
        names = sorted(env.list_templates(filter_func=lambda n: n.endswith(".mjml.j2")))
        source = _template_line(env, names, text)
        where = f" (from {source})" if source else ""
        return f"{message}; at MJML line {line}{where}: {what}: {text.strip()[:120]}"

    def render(
        self, view: EditionView, fragments: dict[str, str] | None = None
    ) -> tuple[str, str, str]:
        """(mjml, html, text) for one edition; `fragments` holds item markup across editions."""
        mjml = self.mjml(view, fragments)
        return mjml, self.html(view, mjml), self.text(view)


@cache
def renderer_for(dirs: tuple[Path, ...]) -> Renderer:
    return Renderer(dirs)


def view_as_dict(view: EditionView) -> dict[str, Any]:
    """The view as plain data (for debugging and tests of what a template receives)."""
    return asdict(view)
