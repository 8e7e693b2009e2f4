"""Each stage owns its tables: only the owning module (or package) touches a table's schema object.

Any other stage asks the owner through functions (`digest.issues.store.mark_sending`,
`digest.delivery.ledger.state_counts`, `digest.audience.selection.mailable_subscribers`, …), so a
table's queries live in one place and the import layers say who may ask whom. The check reads
every module under `digest/` and finds a table reached through `digest.storage.schema`, however it
was imported (`from digest.storage.schema import deliveries as d`, `from digest.storage import
schema` then `schema.deliveries`, or `import digest.storage.schema`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from digest.storage import schema

PACKAGE = Path(__file__).resolve().parents[2] / "digest"

OWNER = {
    # table: the module, or the package (a trailing "/"), whose code may reach it
    "signals": "signals/store.py",
    "signal_sources": "signals/store.py",
    "signal_readings": "signals/store.py",
    "issues": "issues/store.py",
    "editions": "issues/store.py",
    "issue_controls": "issues/",
    "subscribers": "audience/",
    "suppressions": "audience/",
    "confirmations_used": "audience/",
    "deliveries": "delivery/",
    "events": "delivery/",
    "rejected_events": "delivery/",
    "schedule_runs": "jobs/runs.py",
    "editor_accounts": "web/",
    "editor_sessions": "web/",
    "login_throttle": "web/",
    "request_hits": "web/",
}

SHARED = {
    # Installation facts (the suppression salt, the link key's id): plumbing every stage reads,
    # with no stage's rules attached.
    "install_meta",
}

ALLOWED = {
    # Lifting a suppression (the person's own double opt-in) records the lift in the event log
    # in the same transaction, from the audience flow the person completed
    # (`audience.consent.confirm_opt_in`); the audience sits below delivery, so it writes that
    # one audit row itself rather than calling up. Nothing else of the audience reads `events`.
    ("audience/suppression.py", "events"),
    # An editor's change is refused once the scheduler, its approval given, has planned
    # local-time buckets (they send at their hours without asking again). Those plans are
    # schedule runs, recorded by jobs (a floor above issues); the check reads them in the
    # change's own transaction, so the refusal cannot race the planning.
    ("issues/controls_store.py", "schedule_runs"),
    # The controls' writes are the issue store's other half: a change locks the issue row, marks
    # its editions stale and withdraws its approval in the change's own transaction.
    ("issues/controls_store.py", "issues"),
    ("issues/controls_store.py", "editions"),
}

SCHEMA = "digest.storage.schema"


def tables_used(source: str) -> set[str]:
    """The tables a module reaches through `digest.storage.schema`."""
    tree = ast.parse(source)
    found: set[str] = set()
    aliases: set[str] = set()  # names bound to the schema module itself
    dotted: set[str] = set()  # `import digest.storage.schema` (then digest.storage.schema.x)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == SCHEMA:
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module == "digest.storage":
            aliases.update(a.asname or a.name for a in node.names if a.name == "schema")
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name == SCHEMA and a.asname:
                    aliases.add(a.asname)
                elif a.name == SCHEMA:
                    dotted.add(a.name)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        if (isinstance(node.value, ast.Name) and node.value.id in aliases) or (
            dotted and ast.unparse(node.value) == SCHEMA
        ):
            found.add(node.attr)
    return found & set(schema.metadata.tables)


def trespasses(relative: str, source: str) -> list[str]:
    """Each table the module at `relative` (under digest/) uses but does not own (neither it
    nor its package is the owner), shared and allowed ones aside."""
    return sorted(
        table
        for table in tables_used(source)
        if table not in SHARED
        and not relative.startswith(OWNER[table])
        and (relative, table) not in ALLOWED
    )


def modules() -> list[Path]:
    return sorted(
        p for p in PACKAGE.rglob("*.py") if "storage" not in p.relative_to(PACKAGE).parts[:1]
    )


def test_every_table_has_an_owner_or_is_shared() -> None:
    assert set(schema.metadata.tables) == set(OWNER) | SHARED


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_module_touches_only_its_own_stage_tables(path: Path) -> None:
    relative = path.relative_to(PACKAGE).as_posix()
    wrong = trespasses(relative, path.read_text(encoding="utf-8"))
    assert not wrong, f"digest/{relative} reads {wrong} directly: ask the owning stage's store"


@pytest.mark.parametrize(
    "source",
    [
        "from digest.storage.schema import issues as it\n",
        "from digest.storage import schema\nschema.issues.c.id\n",
        "from digest.storage import schema as sc\nx = sc.issues\n",
        "import digest.storage.schema\ndigest.storage.schema.issues\n",
    ],
)
def test_the_check_sees_every_way_of_reaching_a_table(source: str) -> None:
    assert trespasses("web/page.py", source) == ["issues"]


def test_the_owning_module_is_the_only_one_of_its_package() -> None:
    assert trespasses("issues/build.py", "from digest.storage.schema import editions\n") == [
        "editions"
    ]


def test_the_check_lets_the_owner_and_shared_tables_through() -> None:
    source = "from digest.storage.schema import editions, install_meta, issues\n"
    assert trespasses("issues/store.py", source) == []
