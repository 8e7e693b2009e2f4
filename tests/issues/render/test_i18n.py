from __future__ import annotations

from io import BytesIO

from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from jinja2 import Template

from digest.config import Settings
from digest.issues.render.engine import renderer_for, template_dirs
from digest.issues.render.i18n import format_span, po_path, translations
from digest.model import LANGS
from digest.period import parse_period


def _messages(catalog: Catalog) -> dict[str, str]:
    return {str(m.id): repr(m.string) for m in catalog if m.id}


def test_shipped_mo_files_match_their_po_sources() -> None:
    for locale in LANGS:
        with po_path(locale).open("rb") as fh:
            catalog = read_po(fh, locale=locale)
        compiled = BytesIO()
        write_mo(compiled, catalog, use_fuzzy=False)
        with po_path(locale).with_suffix(".mo").open("rb") as fh:
            shipped = read_mo(fh)
        expected = read_mo(BytesIO(compiled.getvalue()))
        assert _messages(shipped) == _messages(expected), (
            f"{locale}: run `python -m digest.issues.render.i18n` to recompile"
        )


def test_every_chinese_message_is_translated() -> None:
    with po_path("zh").open("rb") as fh:
        catalog = read_po(fh, locale="zh")
    untranslated = [
        m.id
        for m in catalog
        if m.id and not (m.string if isinstance(m.string, str) else all(m.string))
    ]
    assert untranslated == []


def test_catalogs_load_from_the_package() -> None:
    assert translations("zh").gettext("Unsubscribe") == "退订"
    assert translations("en").gettext("Unsubscribe") == "Unsubscribe"


def test_periods_read_naturally_per_locale() -> None:
    week = parse_period("2026-W47")
    assert format_span(week.start, week.end, "en").replace("\u2009", " ") == "16 – 22 Nov 2026"
    assert format_span(week.start, week.end, "zh").startswith("2026年11月16日")


def _template(locale: str, source: str, *, html: bool = True) -> Template:
    env = renderer_for(template_dirs(Settings())).env(locale, html=html)  # type: ignore[arg-type]
    return env.from_string(source)


def test_a_templates_message_is_translated_and_its_values_escaped() -> None:
    """`_()` is called outside the sandbox for speed: it must still translate, format its
    keywords and escape them in HTML as Jinja's own newstyle gettext does."""
    page = _template("zh", '{{ _("Join the %(tier)s", tier=name) }}')
    assert page.render(name="<b>圈</b>") == "加入&lt;b&gt;圈&lt;/b&gt;"
    text = _template("en", '{{ _("Join the %(tier)s", tier=name) }}', html=False)
    assert text.render(name="<b>Circle</b>") == "Join the <b>Circle</b>"
