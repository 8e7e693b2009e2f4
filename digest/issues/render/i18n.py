"""Interface strings and dates per locale: Babel catalogs shipped compiled inside the package.

Catalogs live in `digest/locale/<locale>/LC_MESSAGES/digest.po`, compiled to `.mo` next to them
(`python -m digest.issues.render.i18n` recompiles; a test fails when a `.mo` is stale), so
`pip install .` carries them with the code and nothing compiles at run time.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from gettext import NullTranslations
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_interval, format_skeleton
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from digest.model import LANGS, Lang

LOCALE_DIR = Path(__file__).resolve().parents[2] / "locale"
DOMAIN = "digest"

LANG_TAGS: dict[str, str] = {"en": "en", "zh": "zh-Hans"}
"""BCP 47 tags for `lang` attributes: Chinese editions are in simplified script."""

_BABEL_LOCALES: dict[str, str] = {"en": "en_GB", "zh": "zh_Hans_CN"}


@cache
def translations(locale: Lang) -> NullTranslations:
    """The compiled catalog for a locale (English msgids are the source text)."""
    return Translations.load(str(LOCALE_DIR), [locale], domain=DOMAIN)


@cache
def babel_locale(locale: Lang) -> Locale:
    return Locale.parse(_BABEL_LOCALES[locale])


@cache
def format_day(day: dt.date, locale: Lang) -> str:
    """`17 Nov 2026` / `2026年11月17日`; cached because Babel's formatter is slow per call."""
    return format_date(day, format="medium", locale=babel_locale(locale))


@cache
def format_short_day(day: dt.date, locale: Lang) -> str:
    """`17 Nov` / `11月17日`: an item's date, the period label carrying the year."""
    return format_skeleton("MMMd", day, locale=babel_locale(locale))


@cache
def format_span(start: dt.date, end: dt.date, locale: Lang) -> str:
    """`16–22 Nov 2026` / `2026年11月16日至22日`: a period as readers write it."""
    return format_interval(start, end, skeleton="yMMMd", locale=babel_locale(locale))


@cache
def join_list(items: tuple[str, ...], locale: Lang) -> str:
    """`failure paths and source notes` / `失败路径和来源说明`: the locale's list words."""
    return format_list(list(items), locale=babel_locale(locale))


def po_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_catalogs() -> list[Path]:
    """Compile every `.po` to its `.mo` (run after editing a catalog)."""
    written = []
    for locale in LANGS:
        po = po_path(locale)
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=locale, domain=DOMAIN)
        mo = po.with_suffix(".mo")
        with mo.open("wb") as fh:
            write_mo(fh, catalog, use_fuzzy=False)
        written.append(mo)
    return written


if __name__ == "__main__":
    for path in compile_catalogs():
        print(path)
