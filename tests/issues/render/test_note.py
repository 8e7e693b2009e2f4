"""The editor's note: checked (each rule names the line) and rendered safely to HTML and text."""

from __future__ import annotations

import pytest

from digest.issues.render.note import NOTE_MAX, NoteError, check_note, render_note


def test_markdown_becomes_html() -> None:
    html = render_note("A **bold** week, see [the brief](https://example.org/b).").html
    assert html == (
        '<p>A <strong>bold</strong> week, see <a href="https://example.org/b">the brief</a>.</p>'
    )


def test_text_keeps_the_link_address() -> None:
    text = render_note("See [the brief](https://example.org/b).").text
    assert text == "See the brief (https://example.org/b)."


def test_text_lists_items_one_a_line() -> None:
    assert render_note("Two things:\n\n- one\n- two").text == "Two things:\n\n- one\n- two"


def test_characters_html_gives_meaning_to_are_escaped() -> None:
    assert render_note("a < b & c > d").html == "<p>a &lt; b &amp; c &gt; d</p>"


def test_heading_syntax_stays_text() -> None:
    assert render_note("# not a heading").html == "<p># not a heading</p>"


def test_a_note_at_the_limit_is_accepted() -> None:
    assert len(check_note("x" * NOTE_MAX)) == NOTE_MAX


def test_a_note_over_the_limit_is_refused_with_its_length() -> None:
    with pytest.raises(NoteError, match=f"{NOTE_MAX + 1} characters; at most {NOTE_MAX}"):
        check_note("x" * (NOTE_MAX + 1))


def test_surrounding_blank_space_does_not_count() -> None:
    assert check_note("\n\n  hello  \n\n") == "hello"


def test_inline_html_is_refused_naming_the_line() -> None:
    with pytest.raises(NoteError, match=r"line 2: raw HTML \('<b>'\)"):
        check_note("fine\n<b>bold</b>")


def test_block_html_is_refused() -> None:
    with pytest.raises(NoteError, match="line 3: raw HTML"):
        check_note("fine\n\n<div>x</div>")


@pytest.mark.parametrize("syntax", ["{{ name }}", "{% if x %}", "{# c #}", "50%% off"])
def test_template_syntax_is_refused(syntax: str) -> None:
    with pytest.raises(NoteError, match="looks like template syntax"):
        check_note(f"ok\n{syntax}")


def test_images_are_refused() -> None:
    with pytest.raises(NoteError, match="images are not allowed"):
        check_note("![chart](https://example.org/c.png)")


@pytest.mark.parametrize(
    "href", ["/relative", "javascript:alert(1)", "mailto:a@example.org", "https:nohost"]
)
def test_links_other_than_absolute_http_are_refused(href: str) -> None:
    with pytest.raises(NoteError, match="not an absolute http"):
        check_note(f"[x]({href})")


def test_an_autolink_to_https_is_accepted() -> None:
    assert '<a href="https://example.org">' in render_note("<https://example.org>").html


def test_rendering_refuses_what_the_check_refuses() -> None:
    with pytest.raises(NoteError):
        render_note("<script>alert(1)</script>")


@pytest.mark.parametrize(
    "spelled", ["&#37;&#37;view_url_html&#37;&#37;", "\\%\\%view_url_html%\\%"]
)
def test_a_placeholder_spelled_with_markdown_escapes_is_never_a_placeholder(spelled: str) -> None:
    # `%%` is refused as typed, but Markdown decodes entities and backslash escapes: the
    # rendered note must still hold no token the sender would fill per recipient.
    note = render_note(f"Read {spelled} here.")
    assert "%%" not in note.html and "%%" not in note.text
