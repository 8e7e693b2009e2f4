"""The normalized signal: the one record every importer produces and every later stage reads.

Field names are a published contract (`digest ingest --json` prints them), so they are spelled
exactly as docs/signals.md documents them and every one is always present.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from digest.scale import BANDS, INTERNAL_MONITORING, band_for, band_for_evidence, band_for_label
from digest.text import language_of

Lang = Literal["en", "zh"]
LANGS: tuple[Lang, ...] = ("en", "zh")
TierName = Literal["A", "A/B", "B/C", "C/D", "D"]

# Size caps: generous for any real signal, bounded so a hostile or broken source cannot store
# megabytes that every build then renders (docs/signals.md lists them).
ID_MAX = 200  # the database's key column
TITLE_MAX = 1_000
ADDRESS_MAX = 2_048  # `url` and `source` (a path or feed URL)
LABEL_MAX = 200  # signal_type, region, market_class (a database column), tier_label
LINE_MAX = 2_000  # one item of a list, the evidence line, the time horizon
TEXT_MAX = 10_000  # one summary or body paragraph, each member-only text
PARAGRAPHS_MAX = 100  # paragraphs per language in `summary` and in `body`
ITEMS_MAX = 100  # items of a list field


def _no_nul(value: str) -> str:
    """PostgreSQL's text cannot hold U+0000: left to the database, one such character refused
    the whole source's batch ("database refused it"); here it is that record's error."""
    if "\x00" in value:
        raise ValueError("contains a NUL character (U+0000), which no text column can store")
    return value


NoNul = AfterValidator(_no_nul)
Title = Annotated[str, StringConstraints(strip_whitespace=True, max_length=TITLE_MAX), NoNul]
Address = Annotated[str, StringConstraints(strip_whitespace=True, max_length=ADDRESS_MAX), NoNul]
Label = Annotated[str, StringConstraints(strip_whitespace=True, max_length=LABEL_MAX), NoNul]
Line = Annotated[str, StringConstraints(strip_whitespace=True, max_length=LINE_MAX), NoNul]
Prose = Annotated[str, StringConstraints(strip_whitespace=True, max_length=TEXT_MAX), NoNul]
Paragraphs = dict[Lang, Annotated[list[Prose], Field(max_length=PARAGRAPHS_MAX)]]
Items = Annotated[list[Line], Field(max_length=ITEMS_MAX)]

MembershipTier = Literal["open", "strategy_circle", "leadership_alliance"]
MEMBERSHIP_TIERS: tuple[MembershipTier, ...] = ("open", "strategy_circle", "leadership_alliance")
"""Membership tiers, lowest first: each sees what the tiers before it see, and more."""

TIER_NAMES: dict[str, str] = {
    "open": "Open",
    "strategy_circle": "Strategy Circle",
    "leadership_alliance": "Leadership Alliance",
}
"""Each tier's display name: the one spelling the audience, the web app and the renderer share
(the renderer passes it through gettext, so it is also the msgid in digest/locale). Keyed by
plain `str` so the audience's `Tier` (a StrEnum) looks names up directly."""

MEMBER_FIELDS: dict[str, str] = {
    "trend_context": "strategy_circle",
    "relationship_evidence": "leadership_alliance",
    "failure_paths": "leadership_alliance",
    "source_notes": "leadership_alliance",
}


class Signal(BaseModel):
    """One intelligence signal, validated; see docs/signals.md."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    id: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=ID_MAX), NoNul
    ]
    title: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX), NoNul
    ]
    titles: dict[Lang, Title] = Field(default_factory=dict)
    url: Address | None = None
    source: Address | None = None
    summary: Paragraphs = Field(default_factory=dict)
    body: Paragraphs = Field(default_factory=dict)
    see_also: Items = Field(default_factory=list)
    signal_type: Label | None = None
    region: Label | None = None
    market_class: Label | None = None
    confidence: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] | None = None
    tier: TierName | None = None
    tier_label: Label | None = None
    internal: bool = False
    evidence: Line | None = None
    published: dt.date | None = None
    operating_surface: Items = Field(default_factory=list)
    market_context: Items = Field(default_factory=list)
    watch: Items = Field(default_factory=list)
    operational_relevance: Prose | None = None
    time_horizon: Line | None = None
    trend_context: Prose | None = None
    relationship_evidence: Prose | None = None
    failure_paths: Prose | None = None
    source_notes: Prose | None = None

    @model_validator(mode="after")
    def _tier_follows_scale(self) -> Signal:
        """A score decides tier, label and internal-ness; a tier alone picks the band's label."""
        if self.confidence is not None:
            band = band_for(self.confidence)
            if self.tier is not None and self.tier != band.tier:
                raise ValueError(
                    f"tier {self.tier!r} contradicts confidence {self.confidence} "
                    f"(the scale puts it in {band.tier})"
                )
            self.tier, self.tier_label = band.tier, band.label
            self.internal = self.internal or band.internal
        elif self.tier is None and self.evidence and (implied := band_for_evidence(self.evidence)):
            self.tier, self.tier_label = implied.tier, implied.label
            self.internal = self.internal or implied is INTERNAL_MONITORING
        elif self.tier_label is not None and (named := band_for_label(self.tier_label)):
            self.tier = self.tier or named.tier
            self.internal = self.internal or named is INTERNAL_MONITORING
        elif self.tier is not None and self.tier_label is None:
            self.tier_label = next(b.label for b in BANDS if b.tier == self.tier)
        self.summary = {k: v for k, v in self.summary.items() if v}
        self.body = {k: v for k, v in self.body.items() if v}
        return self

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def dumps(self) -> bytes:
        return orjson.dumps(self.to_json_dict())

    def title_in(self, lang: Lang) -> tuple[str, Lang]:
        """The title in `lang` if the signal has it (in `titles`, else `title` when written in
        `lang`: `titles` may hold only the translation), else the best other, with its language."""
        if lang in self.titles:
            return self.titles[lang], lang
        if self.title and language_of(self.title) == lang:
            return self.title, lang
        for other in LANGS:
            if other in self.titles:
                return self.titles[other], other
        return self.title, language_of(self.title)  # type: ignore[return-value]


SIGNAL_FIELDS: tuple[str, ...] = tuple(Signal.model_fields)
