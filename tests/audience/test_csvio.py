from __future__ import annotations

import io

import pytest
from sqlalchemy import Engine, func, select

from digest.audience import store
from digest.audience.csvio import (
    MAX_LINE_BYTES,
    CsvFileError,
    ImportReport,
    export_rows,
    parse_csv,
)
from digest.audience.model import Locale, Profile, Status, Tier
from digest.audience.suppression import suppression_reason
from digest.delivery import erasure
from digest.storage.schema import subscribers

from .conftest import HEADER, ZONE, import_text

GOOD = HEADER + "ann@example.com,Ann,open,en,Europe/Paris,\n"


def parse(text: str | bytes) -> tuple[list[str], ImportReport]:
    """Parse without a database: the emails of the good rows, and the report."""
    data = text.encode() if isinstance(text, str) else text
    report = ImportReport(source="t.csv")
    rows = [r.profile.email for r in parse_csv(io.BytesIO(data), ZONE, report)]
    return rows, report


def problems(report: ImportReport) -> list[str]:
    return [str(p) for p in report.problems]


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(subscribers)).scalar()
    assert isinstance(n, int)
    return n


# Parsing: one bad input per test -------------------------------------------------------------


def test_a_good_row_parses() -> None:
    rows, report = parse(GOOD)
    assert rows == ["ann@example.com"]
    assert (report.rows, report.problems) == (1, [])


def test_blanks_mean_open_english_and_the_publications_zone() -> None:
    report = ImportReport(source="t.csv")
    (row,) = parse_csv(io.BytesIO((HEADER + "a@example.com,,,,,\n").encode()), ZONE, report)
    p = row.profile
    assert (p.tier, p.locale, p.timezone, p.interests) == (Tier.OPEN, Locale.EN, ZONE, ())


def test_tier_by_display_name_and_alias() -> None:
    report = ImportReport(source="t.csv")
    text = HEADER + "a@example.com,,Strategic Circle,,,\nb@example.com,,LEADERSHIP ALLIANCE,,,\n"
    tiers = [r.profile.tier for r in parse_csv(io.BytesIO(text.encode()), ZONE, report)]
    assert tiers == [Tier.STRATEGY_CIRCLE, Tier.LEADERSHIP_ALLIANCE]


def test_interests_split_on_semicolons() -> None:
    report = ImportReport(source="t.csv")
    text = HEADER + "a@example.com,,,,,Supply Chain; Policy Track\n"
    (row,) = parse_csv(io.BytesIO(text.encode()), ZONE, report)
    assert row.profile.interests == ("Policy Track", "Supply Chain")


def test_bad_address_is_reported_with_its_line() -> None:
    rows, report = parse(GOOD + "not-an-address,Bob,,,,\n")
    assert rows == ["ann@example.com"]
    assert problems(report)[0].startswith("line 3: bad address 'not-an-address'")


def test_unknown_tier() -> None:
    _, report = parse(HEADER + "a@example.com,,gold,,,\n")
    assert "line 2: unknown tier 'gold'" in problems(report)[0]


def test_unknown_locale() -> None:
    _, report = parse(HEADER + "a@example.com,,,fr,,\n")
    assert "line 2: unknown locale 'fr'" in problems(report)[0]


def test_unknown_zone() -> None:
    _, report = parse(HEADER + "a@example.com,,,,Mars/Olympus,\n")
    assert problems(report) == ["line 2: unknown time zone 'Mars/Olympus'"]


def test_every_reason_of_a_row_is_reported_together() -> None:
    _, report = parse(HEADER + "a@example.com,,gold,fr,,\n")
    assert "unknown tier" in problems(report)[0] and "unknown locale" in problems(report)[0]


def test_duplicate_in_file_names_the_first_line() -> None:
    rows, report = parse(GOOD + "ANN@example.com,Ann again,,,,\n")
    assert rows == ["ann@example.com"]
    assert problems(report) == ["line 3: duplicate of line 2 (ann@example.com)"]


def test_missing_header_is_a_file_error() -> None:
    with pytest.raises(CsvFileError, match="missing header"):
        parse("ann@example.com,Ann,open,en,,\n")


def test_empty_file_is_a_file_error() -> None:
    with pytest.raises(CsvFileError, match="empty file"):
        parse("")


def test_wrong_encoding_is_a_file_error_naming_the_line() -> None:
    latin1 = (HEADER + "jose@example.com,José,,,,\n").encode("latin-1")
    with pytest.raises(CsvFileError, match=r"line 2 is not UTF-8 .*byte 0xe9"):
        parse(latin1)


def test_utf16_is_a_file_error() -> None:
    with pytest.raises(CsvFileError, match="not UTF-8"):
        parse(GOOD.encode("utf-16"))


def test_a_byte_order_mark_is_accepted() -> None:
    assert parse("\ufeff" + GOOD)[0] == ["ann@example.com"]


def test_broken_quotes_are_reported_and_later_rows_still_parse() -> None:
    text = HEADER + 'a@example.com,"Ann"x,,,,\nb@example.com,Bob,,,,\n'
    rows, report = parse(text)
    assert rows == ["b@example.com"]
    assert problems(report)[0].startswith("line 2: malformed CSV")


def test_an_unclosed_quote_at_the_end_is_reported() -> None:
    rows, report = parse(GOOD + 'b@example.com,"Bob,,,,\n')
    assert rows == ["ann@example.com"]
    assert problems(report) == ["line 3: malformed CSV: unexpected end of data"]


def test_a_stray_quote_mid_file_names_every_line_it_swallowed() -> None:
    """Review finding 4: a quote on line 4 absorbed lines 5–6 and only line 4 was reported."""
    text = (
        HEADER
        + "a@example.com,Ann,,,,\n"
        + "b@example.com,Bob,,,,\n"
        + 'c@example.com,"Cai,,,,\n'
        + "d@example.com,Dee,,,,\n"
        + "e@example.com,Eve,,,,\n"
    )
    rows, report = parse(text)
    assert rows == ["a@example.com", "b@example.com"]
    (problem,) = problems(report)
    assert problem.startswith(
        "lines 4–6: unclosed quote opened on line 4 swallowed these lines; none of them was "
        "imported"
    )


def test_the_summary_counts_the_lines_a_stray_quote_swallowed() -> None:
    """Review finding: the summary said "1 bad rows skipped" for 2,538 swallowed lines."""
    swallowed = "".join(f"p{n}@example.com,P{n},,,,\n" for n in range(2_537))
    text = HEADER + "a@example.com,Ann,,,,\n" + 'b@example.com,"Bob,,,,\n' + swallowed
    rows, report = parse(text)
    assert rows == ["a@example.com"]
    assert problems(report)[0].startswith("lines 3–2540: unclosed quote opened on line 3")
    assert (report.bad_rows, report.bad_lines) == (1, 2_538)
    assert report.summary().endswith(
        "; 1 bad row skipped, covering 2,538 lines (a stray quote made one row of many lines; "
        "none of them was imported: see the line report)"
    )


def test_a_stray_quote_closed_further_down_does_not_hide_rows() -> None:
    """The quote closes on a later line: the csv module would hand back one "valid" row."""
    text = (
        HEADER
        + 'a@example.com,"Ann,,,,\n'
        + "b@example.com,Bob,,,,\n"
        + 'c@example.com,Cai",,,,\n'
        + "d@example.com,Dee,,,,\n"
    )
    rows, report = parse(text)
    assert rows == ["d@example.com"]
    assert problems(report) == [
        "lines 2–4: quote opened on line 2 swallowed these lines; none of them was imported "
        "(fix the quote and import again)"
    ]
    assert (report.rows, report.bad_rows) == (2, 1)


def test_export_defuses_spreadsheet_formulas_and_import_restores_them(engine: Engine) -> None:
    """Review finding 3: a name `=HYPERLINK(…)` was exported verbatim."""
    evil = '=HYPERLINK(""http://evil"")'
    import_text(engine, HEADER + f'ann@example.com,"{evil}",,,,\nbob@example.com,@Bob,,,,\n')
    with engine.connect() as conn:
        out = io.StringIO()
        export_rows(conn, out)
    lines = out.getvalue().splitlines()
    assert lines[1].startswith('ann@example.com,"\'=HYPERLINK(""http://evil"")",')
    assert lines[2].startswith("bob@example.com,'@Bob,")
    report = import_text(engine, out.getvalue())
    assert (report.unchanged, report.bad_rows) == (2, 0)
    with engine.connect() as conn:
        ann = store.get(conn, "ann@example.com")
    assert ann is not None and ann.name == '=HYPERLINK("http://evil")'


def test_import_strips_one_protective_quote_only_before_a_formula_character() -> None:
    text = HEADER + "a@example.com,'-Ann,,,,\nb@example.com,'Bob,,,,\nc@example.com,''=x,,,,\n"
    report = ImportReport(source="t.csv")
    names = [r.profile.name for r in parse_csv(io.BytesIO(text.encode()), ZONE, report)]
    assert names == ["-Ann", "'Bob", "''=x"]


def test_a_quoted_name_may_span_lines_and_the_next_row_keeps_its_number() -> None:
    text = HEADER + 'a@example.com,"Ann\nLee",,,,\nbad,,,,,\n'
    rows, report = parse(text)
    assert rows == ["a@example.com"]
    assert problems(report)[0].startswith("line 4: bad address")


def test_too_many_values() -> None:
    _, report = parse(HEADER + "a@example.com,Ann,open,en,UTC,,extra\n")
    assert problems(report) == ["line 2: 7 values but the header names 6"]


def test_unknown_column_is_reported_and_ignored() -> None:
    rows, report = parse("email,name,teir\na@example.com,Ann,gold\n")
    assert rows == ["a@example.com"]
    assert problems(report) == ["line 1: unknown column 'teir' (ignored)"]
    assert report.bad_rows == 0


def test_a_repeated_column_is_a_file_error() -> None:
    with pytest.raises(CsvFileError, match="'email' appears more than once"):
        parse("email,email\na@example.com,b@example.com\n")


def test_hostile_name_is_stored_on_one_line() -> None:
    report = ImportReport(source="t.csv")
    text = HEADER + 'a@example.com,"Eve\r\nBcc: x@example.com",,,,\n'
    (row,) = parse_csv(io.BytesIO(text.encode()), ZONE, report)
    assert row.profile.name == "Eve Bcc: x@example.com"


def test_very_long_name_is_capped() -> None:
    report = ImportReport(source="t.csv")
    text = HEADER + "a@example.com," + "x" * 50_000 + ",,,,\n"
    (row,) = parse_csv(io.BytesIO(text.encode()), ZONE, report)
    assert len(row.profile.name) == 100


def test_markup_name_is_kept_literally() -> None:
    report = ImportReport(source="t.csv")
    text = HEADER + "a@example.com,<script>alert(1)</script>,,,,\n"
    (row,) = parse_csv(io.BytesIO(text.encode()), ZONE, report)
    assert row.profile.name == "<script>alert(1)</script>"


def test_an_endless_line_is_a_file_error_without_reading_it_whole() -> None:
    with pytest.raises(CsvFileError, match="line 2 is longer than"):
        parse(HEADER + "a" * (MAX_LINE_BYTES + 10))


class EndlessCsv(io.RawIOBase):
    """A subscriber file that never ends; counts the bytes anyone read from it."""

    def __init__(self) -> None:
        self.n = 0
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readline(self, size: int | None = -1) -> bytes:
        line = HEADER.encode() if self.n == 0 else f"u{self.n}@example.com,,,,,\n".encode()
        self.n += 1
        self.read_bytes += len(line)
        return line


def test_parsing_streams_without_reading_the_whole_file() -> None:
    stream = EndlessCsv()
    rows = parse_csv(stream, ZONE, ImportReport(source="endless.csv"))  # type: ignore[arg-type]
    first = [next(rows).profile.email for _ in range(10)]
    assert first[-1] == "u10@example.com"
    assert stream.read_bytes < 1000


def test_a_huge_quoted_field_is_a_row_error() -> None:
    rows, report = parse(
        HEADER + 'a@example.com,"' + "x" * 200_000 + '",,,,\n' + GOOD[len(HEADER) :]
    )
    assert rows == ["ann@example.com"]
    assert "field larger than field limit" in problems(report)[0]


def test_echoed_input_cannot_forge_terminal_output() -> None:
    _, report = parse(HEADER + "\x1b[2Jevil,,,,,\n")
    assert "\x1b" not in problems(report)[0]


# Importing: storage on both databases ---------------------------------------------------------


def test_good_rows_import_and_bad_rows_are_skipped(engine: Engine) -> None:
    report = import_text(engine, GOOD + "bad,,,,,\nbob@example.com,Bob,Strategic Circle,zh,,\n")
    assert (report.added, report.bad_rows, report.rows) == (2, 1, 3)
    with engine.connect() as conn:
        bob = store.get(conn, "bob@example.com")
    assert bob is not None and bob.tier is Tier.STRATEGY_CIRCLE and bob.timezone == ZONE
    assert bob.consent_source == "import:t.csv"


def test_imported_timestamps_read_back_like_any_other(engine: Engine) -> None:
    import_text(engine, GOOD)
    with engine.begin() as conn:
        store.add(conn, Profile(email="bob@example.com"), source="cli")
        imported = store.get(conn, "ann@example.com")
        added = store.get(conn, "bob@example.com")
    assert imported is not None and added is not None
    assert imported.created_at.tzinfo is not None
    assert imported.consent_at == imported.created_at <= added.created_at


def test_dry_run_writes_nothing(engine: Engine) -> None:
    report = import_text(engine, GOOD, dry_run=True)
    assert report.added == 1 and "dry run" in report.summary()
    assert count(engine) == 0


def test_reimport_is_idempotent(engine: Engine) -> None:
    import_text(engine, GOOD)
    report = import_text(engine, GOOD)
    assert (report.added, report.updated, report.unchanged) == (0, 0, 1)


def test_reimport_updates_the_profile(engine: Engine) -> None:
    import_text(engine, GOOD)
    report = import_text(engine, HEADER + "ann@example.com,Ann Lee,leadership_alliance,zh,,\n")
    assert report.updated == 1
    with engine.connect() as conn:
        ann = store.get(conn, "ann@example.com")
    assert ann is not None and (ann.name, ann.tier) == ("Ann Lee", Tier.LEADERSHIP_ALLIANCE)


def test_a_file_error_part_way_commits_nothing(engine: Engine) -> None:
    rows = "".join(f"u{i}@example.com,,,,,\n" for i in range(2500))  # beyond one batch
    report = import_text(engine, (HEADER + rows).encode() + b"late@example.com,Jos\xe9,,,,\n")
    assert report.file_error is not None and "line 2502" in report.file_error
    assert "nothing imported" in report.summary()
    assert count(engine) == 0


def test_a_crash_part_way_commits_nothing(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    import digest.audience.csvio as csvio

    real = csvio.driver_insert
    calls: list[int] = []

    def crash_on_second_batch(conn: object, rows: list[dict[str, object]]) -> None:
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        real(conn, rows)  # type: ignore[arg-type]

    monkeypatch.setattr(csvio, "driver_insert", crash_on_second_batch)
    rows = "".join(f"u{i}@example.com,,,,,\n" for i in range(1500))
    with pytest.raises(RuntimeError, match="disk on fire"):
        import_text(engine, HEADER + rows)
    assert count(engine) == 0


def test_reimport_never_resubscribes_an_opt_out(engine: Engine) -> None:
    import_text(engine, GOOD)
    with engine.begin() as conn:
        store.set_status(conn, "ann@example.com", Status.UNSUBSCRIBED, "footer link")
    report = import_text(engine, GOOD)
    assert report.not_resubscribed == 1
    assert [str(n) for n in report.notes] == ["line 2: stays unsubscribed: not re-subscribed"]
    assert "NOT re-subscribed" in report.summary()
    with engine.connect() as conn:
        ann = store.get(conn, "ann@example.com")
    assert ann is not None and ann.status is Status.UNSUBSCRIBED


def test_the_summary_counts_add_up(engine: Engine) -> None:
    """Review finding 5: opted-out rows were counted as imported AND as not re-subscribed."""
    import_text(engine, HEADER + "a@example.com,A,,,,\nb@example.com,B,,,,\nc@example.com,C,,,,\n")
    with engine.begin() as conn:
        store.set_status(conn, "a@example.com", Status.UNSUBSCRIBED, "footer link")
        store.remove(conn, "a@example.com")
        store.set_status(conn, "b@example.com", Status.BOUNCED, "hard bounce")
    report = import_text(
        engine,
        HEADER + "a@example.com,A,,,,\nb@example.com,Bee,,,,\nc@example.com,C,,,,\n"
        "d@example.com,D,,,,\nbad,,,,,\n",
    )
    assert (report.added, report.updated, report.unchanged) == (1, 0, 1)
    assert (report.not_resubscribed, report.bad_rows, report.rows) == (2, 1, 5)
    assert report.summary() == (
        "t.csv: imported 2 of 5 rows (1 added, 0 updated, 1 unchanged); 2 NOT re-subscribed "
        "(they opted out, bounced or complained before and stay suppressed); 1 bad row skipped"
    )
    assert "line 3: stays bounced: profile updated, not re-subscribed" in map(str, report.notes)


def test_reimport_after_removal_does_not_add_a_suppressed_address(engine: Engine) -> None:
    import_text(engine, GOOD)
    with engine.begin() as conn:
        store.set_status(conn, "ann@example.com", Status.COMPLAINED, "spam report")
        store.remove(conn, "ann@example.com")
    report = import_text(engine, GOOD)
    assert (report.added, report.not_resubscribed) == (0, 1)
    assert "suppression list (complained)" in str(report.notes[0])
    assert count(engine) == 0


def test_reimport_after_forget_does_not_add_the_person(engine: Engine) -> None:
    import_text(engine, GOOD)
    with engine.begin() as conn:
        erasure.forget(conn, "ann@example.com")
    report = import_text(engine, GOOD)
    assert report.not_resubscribed == 1
    assert count(engine) == 0


def test_a_status_column_can_unsubscribe(engine: Engine) -> None:
    import_text(engine, GOOD)
    report = import_text(engine, "email,status\nann@example.com,bounced\n")
    assert report.made_unmailable == 1
    with engine.connect() as conn:
        ann = store.get(conn, "ann@example.com")
        reason = suppression_reason(conn, "ann@example.com")
    assert ann is not None and ann.status is Status.BOUNCED
    assert ann.status_reason == "import:t.csv: status column"
    assert reason == "bounced"


def test_a_status_column_cannot_resubscribe(engine: Engine) -> None:
    import_text(engine, "email,status\nann@example.com,unsubscribed\n")
    report = import_text(engine, "email,status\nann@example.com,active\n")
    assert report.not_resubscribed == 1
    with engine.connect() as conn:
        ann = store.get(conn, "ann@example.com")
    assert ann is not None and ann.status is Status.UNSUBSCRIBED


def test_export_then_import_round_trips(engine: Engine) -> None:
    import_text(
        engine,
        HEADER
        + 'ann@example.com,"Lee, Ann",Strategic Circle,zh,Asia/Tokyo,Supply Chain;Policy Track\n'
        + "bob@example.com,Bob,,,,\n",
    )
    with engine.begin() as conn:
        store.set_status(conn, "bob@example.com", Status.UNSUBSCRIBED, "footer link")
        out = io.StringIO()
        assert export_rows(conn, out) == 2
    exported = out.getvalue()
    assert exported.splitlines()[0] == "email,name,tier,locale,timezone,interests,status"
    report = import_text(engine, exported)
    assert (report.unchanged, report.updated, report.not_resubscribed, report.bad_rows) == (
        2,
        0,
        0,
        0,
    )
    with engine.begin() as conn:
        again = io.StringIO()
        export_rows(conn, again)
    assert again.getvalue() == exported
