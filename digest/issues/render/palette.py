"""The editions' colours, light and dark, written down once: the templates and the contrast test
read the same table.

Every colour the templates print comes from `LIGHT` (inline styles) or `DARK` (the
`prefers-color-scheme: dark` block and Outlook.com's `[data-ogsc]`/`[data-ogsb]` overrides), and
`PAIRS` lists each text-on-background combination the templates use, so a test can prove every
one of them meets WCAG AA (4.5:1) in both schemes instead of trusting an eye.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Palette:
    """One scheme's colours (`#rrggbb`); templates read them as `light.ink`, `dark.ink`."""

    page: str  # around the card, and the footer
    paper: str  # the card
    box: str  # member analysis, the invitation, the editor's note
    ink: str  # headlines and body text
    soft: str  # "what to watch", the invitation's pitch
    muted: str  # meta lines, footer, hollow meter steps
    accent: str  # links, section headings, filled meter steps
    rule: str  # hairlines between items (not text)
    button: str
    button_text: str


LIGHT: Final = Palette(
    page="#f3f0e9",
    paper="#ffffff",
    box="#f7f3ea",
    ink="#24211c",
    soft="#4a443a",
    muted="#675f53",
    accent="#7a4e12",
    rule="#e4ded2",
    button="#7a4e12",
    button_text="#ffffff",
)
DARK: Final = Palette(
    page="#121110",
    paper="#1c1a17",
    box="#2a2621",
    ink="#ede7db",
    soft="#d2c9b9",
    muted="#aaa192",
    accent="#e3b66e",
    rule="#3d372f",
    button="#e3b66e",
    button_text="#1c1a17",
)

PAIRS: Final[tuple[tuple[str, str], ...]] = (
    ("ink", "paper"),
    ("soft", "paper"),
    ("muted", "paper"),
    ("accent", "paper"),
    ("ink", "box"),
    ("soft", "box"),
    ("muted", "box"),
    ("accent", "box"),
    ("muted", "page"),
    ("accent", "page"),
    ("ink", "page"),
    ("button_text", "button"),
)
"""(text colour, background colour) of every pairing the templates print."""

AA_NORMAL = 4.5


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(hex_colour: str) -> float:
    """WCAG 2 relative luminance of `#rrggbb`."""
    h = hex_colour.lstrip("#")
    r, g, b = (_channel(int(h[i : i + 2], 16)) for i in (0, 2, 4))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg: str, bg: str) -> float:
    """WCAG 2 contrast ratio of two `#rrggbb` colours (1 to 21)."""
    a, b = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)
