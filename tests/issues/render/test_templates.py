"""Template lookup (user folder, ./templates, bundled; tier template, then the fallback) and
errors that name the template and the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from digest.issues.editions import build_issue
from digest.issues.render.engine import RenderError, mjml_structure_problem, template_dirs
from digest.resources import bundled

MINIMAL = """<mjml lang="{{ view.lang }}"><mj-body><mj-section><mj-column><mj-text>
<p>MARK-{name}</p><p>{{{{ view.postal_address }}}}</p>
<a href="{{{{ view.unsubscribe_url }}}}">u</a></mj-text></mj-column></mj-section></mj-body></mjml>
"""


def write(folder: Path, name: str, body: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(body, encoding="utf-8")


def build(h: Any, tmp_path: Path, **editions: Any) -> Any:
    settings = h.settings_for(editions=editions) if editions else h.settings_for()
    return build_issue([h.make_signal("one")], settings, h.week, cwd=tmp_path)


def test_the_user_folder_is_searched_first(h: Any, tmp_path: Path) -> None:
    user = tmp_path / "mine"
    write(user, "digest.mjml.j2", MINIMAL.format(name="user"))
    write(tmp_path / "templates", "digest.mjml.j2", MINIMAL.format(name="cwd"))
    issue = build(h, tmp_path, templates_dir=str(user))
    assert "MARK-user" in issue.edition("open", "en").html


def test_templates_in_the_working_directory_come_before_the_bundled(h: Any, tmp_path: Path) -> None:
    write(tmp_path / "templates", "digest.mjml.j2", MINIMAL.format(name="cwd"))
    assert "MARK-cwd" in build(h, tmp_path).edition("open", "en").html


def test_a_tier_template_serves_only_its_tier(h: Any, tmp_path: Path) -> None:
    user = tmp_path / "mine"
    write(user, "leadership_alliance.mjml.j2", MINIMAL.format(name="alliance"))
    issue = build(h, tmp_path, templates_dir=str(user))
    assert "MARK-alliance" in issue.edition("leadership_alliance", "zh").html
    assert "MARK-alliance" not in issue.edition("open", "en").html


def test_an_override_can_extend_the_bundled_layout(h: Any, tmp_path: Path) -> None:
    user = tmp_path / "mine"
    write(
        user,
        "open.mjml.j2",
        '{% extends "digest.mjml.j2" %}{% block header %}<mj-section><mj-column><mj-text>'
        "MARK-header</mj-text></mj-column></mj-section>{% endblock %}",
    )
    html = build(h, tmp_path, templates_dir=str(user)).edition("open", "en").html
    assert "MARK-header" in html and "Headline one" in html


def test_the_search_path_order(h: Any, tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "mine").mkdir()
    settings = h.settings_for(editions={"templates_dir": str(tmp_path / "mine")})
    dirs = template_dirs(settings, tmp_path)
    assert dirs == (
        (tmp_path / "mine").resolve(),
        (tmp_path / "templates").resolve(),
        bundled("templates").resolve(),
    )


def test_a_syntax_error_names_the_template_and_line(h: Any, tmp_path: Path) -> None:
    write(tmp_path / "mine", "digest.mjml.j2", "<mjml>\n<mj-body>\n{% if %}\n</mj-body></mjml>")
    with pytest.raises(RenderError, match=r"digest\.mjml\.j2, line 3"):
        build(h, tmp_path, templates_dir=str(tmp_path / "mine"))


def test_an_undefined_name_names_the_template_and_line(h: Any, tmp_path: Path) -> None:
    write(
        tmp_path / "mine",
        "digest.mjml.j2",
        "<mjml>\n<mj-body>\n\n{{ view.nope }}\n</mj-body></mjml>",
    )
    with pytest.raises(RenderError, match=r"digest\.mjml\.j2, line 4"):
        build(h, tmp_path, templates_dir=str(tmp_path / "mine"))


def test_an_mjml_error_names_the_template_and_line(h: Any, tmp_path: Path) -> None:
    body = (
        "<mjml><mj-body>\n<mj-section>\n  <mj-column>\n"
        "    <mj-text>{{ view.publication }}</mj-text>\n</mj-section>\n</mj-body></mjml>\n"
    )
    write(tmp_path / "mine", "digest.mjml.j2", body)
    with pytest.raises(
        RenderError,
        match=r"MJML error.*digest\.mjml\.j2, line 5\).*</mj-section> closes </mj-column>",
    ):
        build(h, tmp_path, templates_dir=str(tmp_path / "mine"))


def test_the_sandbox_blocks_reaching_into_python(h: Any, tmp_path: Path) -> None:
    write(tmp_path / "mine", "digest.mjml.j2", "{{ view.__class__.__mro__ }}")
    with pytest.raises(RenderError):
        build(h, tmp_path, templates_dir=str(tmp_path / "mine"))


def test_a_missing_user_folder_is_reported(h: Any, tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="not a folder"):
        build(h, tmp_path, templates_dir=str(tmp_path / "absent"))


def test_structure_scan_reports_unclosed_tags() -> None:
    assert mjml_structure_problem("<mjml>\n<mj-body>\n</mjml>") == (
        3,
        "</mjml> closes </mj-body> (opened on line 2)",
    )
    assert mjml_structure_problem("<mjml><mj-body><mj-divider /></mj-body></mjml>") is None


def test_a_publication_restyles_every_items_text_head_with_one_partial(
    h: Any, tmp_path: Path
) -> None:
    write(tmp_path / "mine" / "partials", "_item_head.txt.j2", "HEAD-{{ item.id }}\n")
    signals = [h.make_signal("full", confidence=0.92), h.make_signal("radar", confidence=0.2)]
    settings = h.settings_for(editions={"templates_dir": str(tmp_path / "mine")})
    text = build_issue(signals, settings, h.week, cwd=tmp_path).edition("open", "en").text
    assert "HEAD-full" in text and "HEAD-radar" in text
    assert "] Headline full" not in text and "] Headline radar" not in text
