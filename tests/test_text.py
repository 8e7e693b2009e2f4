"""Text facts shared by importers and rendering: a derived id must never change."""

from __future__ import annotations

import sys

from digest.text import _NOT_ALNUM, counted, derived_id, normalize_title


def test_the_separator_pattern_is_exactly_the_non_alphanumeric_characters() -> None:
    """normalize_title keeps what `str.isalnum()` keeps: ids derived from titles stay stable."""
    differ = [
        hex(code)
        for code in range(sys.maxunicode + 1)
        if chr(code).isalnum() == bool(_NOT_ALNUM.match(chr(code)))
    ]
    assert differ == []


def test_spellings_of_one_title_share_a_normal_form() -> None:
    assert (
        normalize_title("ＥＮＩＳＡ publishes — first_figures!") == "enisa publishes first figures"
    )
    assert normalize_title("荷兰，扩大 DUV 许可。") == "荷兰 扩大 duv 许可"


def test_a_derived_id_is_the_one_earlier_versions_gave() -> None:
    """Stored signals carry these ids (computed by the per-character version of
    normalize_title): a change here would give every id-less signal a second id."""
    assert derived_id("ENISA publishes first figures") == "s-52fb7b75181a2a2f"
    assert derived_id("荷兰，扩大 DUV 许可。") == "s-46886ad4b24b61cb"
    assert derived_id("Acme_Corp’s Q3 — déjà vu") == "s-034cf45b49fd2365"


def test_counted_says_one_in_the_singular_and_others_in_the_plural() -> None:
    assert [counted(n, "signal") for n in (0, 1, 2)] == ["0 signals", "1 signal", "2 signals"]
