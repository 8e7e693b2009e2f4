"""The subject and preheader of one edition: the week's lead headline, and what follows it.

An inbox shows a sender, a subject and a snippet. The From name already carries the publication,
so the subject is the lead headline in the reader's language (no "Signal Weekly, week 47:"
unless `editions.subject_template` asks for one), at most `SUBJECT_COLUMNS` columns with each
CJK character counting two, cut only between words (between characters in Chinese). The
preheader names the next headlines and how many more follow, then is padded with invisible
characters so the mail client does not fill the rest of the snippet with the body's first words.

Headlines are untrusted signal text: one holding markup or template syntax (`<b>`, `{{`, `{%`,
`%%`) is inert in the email, but in a subject it reads as spam or breakage, so it is passed over
for the next headline, and only stripped of that syntax when no clean headline exists.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from digest.issues.render.i18n import format_span, translations
from digest.issues.render.widths import cut, width
from digest.model import Lang
from digest.period import Period

SUBJECT_COLUMNS = 60
"""Widest subject, template prefix included: what a phone's inbox shows before cutting it."""
PREHEADER_COLUMNS = 100
"""Widest preheader text (before padding): about what a desktop inbox shows beside a subject."""
HEADLINE_IN_PREHEADER = 44
"""Widest one headline may be in the preheader, so it names two or three rather than one."""
PREHEADER_HEADLINES = 3
MIN_HEADLINE_COLUMNS = 20
"""A subject template must leave at least this much of the subject to the headline."""

PADDING = "\u200c\u00a0" * 90
"""The usual `&zwnj;&nbsp;` padding (as characters, so escaping leaves it alone): it fills the
snippet after the preheader with blanks instead of the body's first line."""

_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^<>]*>", re.IGNORECASE | re.DOTALL)
_TEMPLATE = re.compile(r"{{.*?}}|{%.*?%}|{#.*?#}|%%.*?%%", re.DOTALL)
_MARKERS = re.compile(r"<[^<>]*>|{{|}}|{%|%}|{#|#}|%%")
_SPACES = re.compile(r"\s+")
_WORD_JOINER = "\u2060"


class SubjectTemplateError(ValueError):
    """`editions.subject_template` leaves no room for the headline (its fields are checked when
    the configuration loads: `digest.config.Editions`)."""


@dataclass(frozen=True)
class Headline:
    """One shown item's title as the edition shows it, and whether it is the reader's language."""

    text: str
    native: bool


def has_markup(text: str) -> bool:
    """Whether a headline holds markup or template syntax (`%%` defused or not)."""
    return _MARKERS.search(text.replace(_WORD_JOINER, "")) is not None


def stripped(text: str) -> str:
    """`text` without tags, template expressions or their markers, on one line."""
    text = _TEMPLATE.sub(" ", _TAG.sub(" ", text.replace(_WORD_JOINER, "")))
    return _SPACES.sub(" ", _MARKERS.sub(" ", text)).strip()


def _letters(text: str) -> int:
    return sum(c.isalnum() for c in text)


def _ranked(headlines: Sequence[Headline]) -> Iterator[tuple[int, str]]:
    """(index, text) of usable headlines, best first: clean ones in the reader's language, then
    clean ones in the other, then the others stripped of their markup (same order) when what is
    left is still most of the headline (`alert(1)` from a script tag is not).

    Lazy, and each headline judged once: the subject wants only the first that fits, and a
    week of 200 signals has 200 headlines per edition."""
    judged: dict[int, tuple[str, bool]] = {}

    def usable(index: int, headline: Headline) -> tuple[str, bool]:
        if index not in judged:
            text = stripped(headline.text)
            kept = _letters(text)
            judged[index] = (text, kept >= 3 and 2 * kept >= _letters(headline.text))
        return judged[index]

    marked = [has_markup(h.text) for h in headlines]
    for dirty in (False, True):
        for native in (True, False):
            for index, headline in enumerate(headlines):
                if marked[index] is not dirty or headline.native is not native:
                    continue
                text, ok = usable(index, headline)
                if ok:
                    yield index, text


def _period_label(period: Period, locale: Lang) -> str:
    return format_span(period.start, period.end, locale)


def _fallback_subject(publication: str, period: Period, locale: Lang) -> str:
    """`Signal Weekly, week 47`: for an edition with no usable headline at all."""
    _ = translations(locale).gettext
    week = period.iso_week
    label = _("week %(week)d") % {"week": week[1]} if week else _period_label(period, locale)
    return _("%(publication)s, %(period)s") % {"publication": publication, "period": label}


def headline_budget(template: str, publication: str, period: Period, locale: Lang) -> int:
    """Columns left to the headline once the template's other fields are filled."""
    week = period.iso_week
    fixed = template.format(
        headline="",
        publication=publication,
        week=str(week[1]) if week else "",
        period=_period_label(period, locale),
    )
    return SUBJECT_COLUMNS - width(fixed)


@dataclass(frozen=True)
class Subject:
    text: str
    headline: int | None
    """Index of the headline the subject carries (None: no usable headline)."""


def write_subject(
    headlines: Sequence[Headline],
    *,
    template: str,
    publication: str,
    period: Period,
    locale: Lang,
) -> Subject:
    """The subject: the first usable headline (the lead, when it is), whole or cut between
    words, inside `template`, at most SUBJECT_COLUMNS wide."""
    budget = headline_budget(template, publication, period, locale)
    if budget < MIN_HEADLINE_COLUMNS:
        raise SubjectTemplateError(
            f"editions.subject_template {template!r} leaves {max(budget, 0)} of {SUBJECT_COLUMNS} "
            f"columns for the headline (at least {MIN_HEADLINE_COLUMNS} are needed)"
        )
    week = period.iso_week
    for index, text in _ranked(headlines):
        fitted = cut(text, budget)
        if fitted:
            subject = template.format(
                headline=fitted,
                publication=publication,
                week=str(week[1]) if week else "",
                period=_period_label(period, locale),
            )
            return Subject(_SPACES.sub(" ", subject).strip(), index)
    return Subject(cut(_fallback_subject(publication, period, locale), SUBJECT_COLUMNS), None)


LANGUAGE_NAMES: dict[Lang, str] = {"en": "English", "zh": "Chinese"}
"""The editions' languages as a check message (for the editor, in English) names them."""


@dataclass(frozen=True)
class PassedOver:
    """The editor's lead, shown in an edition whose subject carries another headline: the
    reader keeps a subject in their language, and the editor is told (a `subject-lead` check)."""

    signal_id: str
    language: str
    """The edition's language, named in English (`Chinese`)."""
    reason: str
    """Why, as the end of a sentence: `it has no Chinese title`."""


def passed_over(
    headlines: Sequence[Headline], subject: Subject, lead: str | None, locale: Lang
) -> PassedOver | None:
    """The editor's `lead`, whose headline the caller put first, when the subject passed it
    over for a usable headline (clean, in the reader's language first: `_ranked`); None when
    there is no editor's lead here or the subject carries it."""
    if lead is None or not headlines or subject.headline == 0:
        return None
    first, language = headlines[0], LANGUAGE_NAMES[locale]
    if not first.native:
        reason = f"it has no {language} title"
    elif has_markup(first.text):
        reason = "its title holds markup or template syntax"
    else:
        reason = "its title has fewer than three letters"
    return PassedOver(lead, language, reason)


def _preheader_text(names: Sequence[str], rest: int, locale: Lang) -> str:
    translation = translations(locale)
    more = translation.ngettext("+%(num)d more", "+%(num)d more", rest) % {"num": rest}
    listed = " · ".join([*names, more] if rest else names)
    return translation.gettext("Also: %(headlines)s") % {"headlines": listed}


def write_preheader(
    headlines: Sequence[Headline],
    *,
    subject_headline: int | None,
    shown: int,
    locale: Lang,
    publication: str,
    period: Period,
    tier_name: str,
) -> str:
    """`Also: <next headline> · <next> · +N more`, in the reader's language, never empty.

    Names only clean headlines in the reader's language (never the subject's own); `+N more`
    counts every other shown item. With nothing to name, it says how many more there are, or
    for a one-item edition what the edition is.
    """
    others = shown - (1 if subject_headline is not None else 0)
    candidates = [
        cut(stripped(h.text), HEADLINE_IN_PREHEADER)
        for i, h in enumerate(headlines)
        if i != subject_headline and h.native and not has_markup(h.text)
    ]
    names: list[str] = []
    for candidate in candidates:
        if not candidate:
            continue
        trial = [*names, candidate]
        if width(_preheader_text(trial, others - len(trial), locale)) > PREHEADER_COLUMNS:
            break
        names = trial
        if len(names) == PREHEADER_HEADLINES:
            break
    if names:
        return _preheader_text(names, others - len(names), locale)
    translation = translations(locale)
    label = f"{publication} · {_period_label(period, locale)} · {tier_name}"
    if others > 0:
        more = translation.ngettext(
            "%(num)d more signal in this issue", "%(num)d more signals in this issue", others
        ) % {"num": others}
        return cut(f"{more} · {label}", PREHEADER_COLUMNS)
    return cut(label, PREHEADER_COLUMNS)


def padded(preheader: str) -> str:
    """The preheader as the HTML's hidden preview text: followed by PADDING."""
    return preheader + PADDING


def unpadded(preheader: str) -> str:
    """The preheader's text without its padding (for checks, manifests and the web)."""
    return preheader.rstrip("\u200c\u00a0 ")
