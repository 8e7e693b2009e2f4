"""CSV import and export of subscribers.

The file is read one line at a time (each line capped), decoded as UTF-8 line by line so an
encoding problem names its line, and parsed with the `csv` module in strict mode. Good rows are
upserted in batches inside ONE transaction per file: a crash, an encoding error or `--dry-run`
rolls everything back, so a file is either imported (minus its reported bad rows) or not at all.

An import never re-subscribes anyone: an address on the suppression list is not added back, an
opted-out subscriber stays opted out, and a `status` column can only make someone less mailable.
The report says so, line by line.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, NamedTuple

from sqlalchemy import Connection, Engine, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from digest.audience.addresses import InvalidAddress, normalize_email
from digest.audience.model import (
    Profile,
    Status,
    Tier,
    clean_name,
    interests_key,
    parse_interests,
    parse_locale,
    parse_status,
    parse_tier,
    parse_timezone,
)
from digest.audience.store import iter_subscribers, new_row, profile_values
from digest.audience.suppression import email_hash, installation_salt, suppressed_among
from digest.signals.classes import MarketClasses, known_classes
from digest.storage.schema import subscribers, suppressions

COLUMNS = ("email", "name", "tier", "locale", "timezone", "interests")
EXPORT_COLUMNS = (*COLUMNS, "status")
MAX_LINE_BYTES = 1 << 20  # a longer physical line is not a subscriber list
BATCH = 1000
LISTED = 1000  # problems and notes kept in full; beyond that they are only counted

t = subscribers

# A spreadsheet runs a cell starting with one of these as a formula (`=HYPERLINK(…)`): export
# prefixes such a cell with `'`, and import strips exactly that one `'` again (OWASP's advice).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class CsvFileError(Exception):
    """The file as a whole cannot be imported (encoding, header, size); nothing was written."""


@dataclass(frozen=True)
class RowProblem:
    line: int
    reason: str
    end: int | None = None  # the last line, when the problem spans several

    def __str__(self) -> str:
        if self.end is not None and self.end > self.line:
            return f"lines {self.line}–{self.end}: {self.reason}"
        return f"line {self.line}: {self.reason}"


class ParsedRow(NamedTuple):
    line: int
    profile: Profile
    status: Status | None  # None: the file has no status for this row


@dataclass
class ImportReport:
    """What an import did (or, with dry_run, would do)."""

    source: str
    dry_run: bool = False
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    made_unmailable: int = 0
    not_resubscribed: int = 0
    bad_rows: int = 0
    bad_lines: int = 0  # the lines those bad rows covered: a stray quote can swallow thousands
    problems: list[RowProblem] = field(default_factory=list)
    notes: list[RowProblem] = field(default_factory=list)
    file_error: str | None = None

    def problem(
        self, line: int, reason: str, *, bad_row: bool = True, end: int | None = None
    ) -> None:
        if bad_row:
            self.bad_rows += 1
            self.bad_lines += (end if end is not None and end > line else line) - line + 1
        if len(self.problems) < LISTED:
            self.problems.append(RowProblem(line, reason, end))

    def note(self, line: int, reason: str) -> None:
        if len(self.notes) < LISTED:
            self.notes.append(RowProblem(line, reason))

    @property
    def ok(self) -> bool:
        return self.file_error is None and not self.problems

    @property
    def imported(self) -> int:
        """Rows stored as the file says (added, updated or already so)."""
        return self.added + self.updated + self.unchanged

    def _bad(self) -> str:
        """The bad rows, and the lines they cover when a quote made one row of many lines."""
        rows = f"{self.bad_rows:,} bad {'row' if self.bad_rows == 1 else 'rows'}"
        if self.bad_lines == self.bad_rows:
            return f"{rows} skipped"
        return (
            f"{rows} skipped, covering {self.bad_lines:,} lines (a stray quote made one row "
            "of many lines; none of them was imported: see the line report)"
        )

    def summary(self) -> str:
        """One line whose counts add up: imported + not re-subscribed + bad = rows."""
        if self.file_error:
            return f"{self.source}: {self.file_error}; nothing imported"
        verb = "would import" if self.dry_run else "imported"
        text = (
            f"{self.source}: {verb} {self.imported} of {self.rows} rows "
            f"({self.added} added, {self.updated} updated, {self.unchanged} unchanged"
        )
        if self.made_unmailable:
            text += f"; {self.made_unmailable} of them marked not mailable by the status column"
        text += ")"
        if self.not_resubscribed:
            text += (
                f"; {self.not_resubscribed} NOT re-subscribed (they opted out, bounced or "
                "complained before and stay suppressed)"
            )
        if self.bad_rows:
            text += "; " + self._bad()
        if self.dry_run:
            text += " (dry run: nothing written)"
        return text


def _shown(value: str, limit: int = 60) -> str:
    """Input echoed in a message: quoted with escapes, so it cannot forge terminal output."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def _decoded_lines(stream: IO[bytes]) -> Iterator[str]:
    """Physical lines as text, each checked for UTF-8 and length before the CSV parser sees it."""
    number = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_BYTES:
            raise CsvFileError(f"line {number} is longer than {MAX_LINE_BYTES} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CsvFileError(
                f"line {number} is not UTF-8 text (byte {raw[exc.start]:#04x} at column "
                f"{exc.start + 1}); save the file as UTF-8 (CSV UTF-8) and import it again"
            ) from None
        yield text.removeprefix("\ufeff") if number == 1 else text


def _header(reader: Iterator[list[str]], report: ImportReport) -> list[str]:
    try:
        first = next(reader, None)
    except csv.Error as exc:
        raise CsvFileError(f"line 1: malformed header: {exc}") from None
    if not first or not any(c.strip() for c in first):
        raise CsvFileError("empty file: the first line must be a header (email,name,…)")
    names = [c.strip().lower() for c in first]
    if "email" not in names:
        raise CsvFileError(
            f"missing header: the first line must name the columns ({','.join(COLUMNS)}); "
            f"found {_shown(','.join(first))}"
        )
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise CsvFileError(f"line 1: column {_shown(repeated[0])} appears more than once")
    for name in names:
        if name not in EXPORT_COLUMNS:
            report.problem(1, f"unknown column {_shown(name)} (ignored)", bad_row=False)
    return names


def _defused(cell: str) -> str:
    """An exported cell a spreadsheet will show as text, never run as a formula."""
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def _undefused(cells: list[str]) -> list[str]:
    """Cells with export's protective `'` removed (only before a formula character)."""
    return [c[1:] if c[:1] == "'" and c[1:].startswith(FORMULA_START) else c for c in cells]


def _parse_row(
    values: dict[str, str], line: int, default_zone: str
) -> tuple[ParsedRow | None, list[str]]:
    """One row's profile, or every reason it is bad (all at once, so one fix suffices)."""
    reasons: list[str] = []
    email = tier = locale = zone = interests = status = None
    get = values.get
    try:
        email = normalize_email(get("email", ""))
    except InvalidAddress as exc:
        reasons.append(f"bad address {_shown(get('email', '').strip())}: {exc}")
    try:
        tier = parse_tier(get("tier", ""))
    except ValueError as exc:
        reasons.append(str(exc))
    try:
        locale = parse_locale(get("locale", ""))
    except ValueError as exc:
        reasons.append(str(exc))
    try:
        zone = parse_timezone(get("timezone", ""), default_zone)
    except ValueError as exc:
        reasons.append(str(exc))
    try:
        interests = parse_interests(get("interests", ""))
    except ValueError as exc:
        reasons.append(str(exc))
    raw_status = get("status", "")
    try:
        status = parse_status(raw_status) if raw_status.strip() else None
    except ValueError as exc:
        reasons.append(str(exc))
    if reasons:
        return None, reasons
    assert email and tier and locale and zone and interests is not None
    profile = Profile(email, clean_name(get("name", "")), tier, locale, zone, interests)
    return ParsedRow(line, profile, status), []


def parse_csv(
    stream: IO[bytes],
    default_zone: str,
    report: ImportReport,
    classes: MarketClasses | None = None,
) -> Iterator[ParsedRow]:
    """The good rows of a subscriber CSV; bad ones go to `report` with line and reason.

    With `classes`, interests are mapped onto the known market classes (canonical spelling);
    one that names no known class is reported on its line and dropped, and the row imports
    with its known interests only — an unmatched interest would otherwise mean never mailed.
    Raises CsvFileError for a problem with the whole file (encoding, header, an endless line).
    """
    reader = csv.reader(_decoded_lines(stream), strict=True)
    names = _header(reader, report)
    seen: dict[str, int] = {}
    resolved: dict[tuple[str, ...], tuple[tuple[str, ...], list[str]]] = {}
    end = reader.line_num
    while True:
        start = end + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            end = reader.line_num
            report.rows += 1
            report.problem(start, _malformed(start, end, str(exc)), end=end)
            continue
        end = reader.line_num
        if end > start and _swallowed_rows(cells):
            report.rows += 1
            report.problem(start, _swallowed(start), end=end)
            continue
        if not "".join(cells).strip():
            continue
        report.rows += 1
        if len(cells) > len(names):
            report.problem(start, f"{len(cells)} values but the header names {len(names)}")
            continue
        if any(c[:1] == "'" for c in cells):
            cells = _undefused(cells)
        row, reasons = _parse_row(dict(zip(names, cells, strict=False)), start, default_zone)
        if row is not None and row.profile.email in seen:
            reasons = [f"duplicate of line {seen[row.profile.email]} ({row.profile.email})"]
        if row is None or reasons:
            report.problem(start, "; ".join(reasons))
            continue
        seen[row.profile.email] = start
        if classes is not None and row.profile.interests:
            row = _known_interests(row, classes, resolved, report)
        yield row


def _malformed(start: int, end: int, error: str) -> str:
    """The reason for a record the csv module refused; a multi-line one names its span."""
    if end <= start:
        return f"malformed CSV: {error}"
    what = "unclosed quote" if "unexpected end of data" in error else "quote"
    return f"{_swallowed(start, what)} ({error})"


def _swallowed(start: int, what: str = "quote") -> str:
    """Printed after "lines N–M: ", so no row inside the span goes missing silently."""
    return (
        f"{what} opened on line {start} swallowed these lines; none of them was imported "
        "(fix the quote and import again)"
    )


def _swallowed_rows(cells: list[str]) -> bool:
    """Whether a quoted value spanning lines holds lines that look like rows of their own.

    A name may legitimately be quoted across lines (it is stored on one line), but a line
    break followed by `something@somewhere,` is a stray quote eating the next subscribers.
    """
    return any(
        "@" in part.split(",", 1)[0] and "," in part
        for cell in cells
        if "\n" in cell or "\r" in cell
        for part in cell.splitlines()[1:]
    )


def _known_interests(
    row: ParsedRow,
    classes: MarketClasses,
    resolved: dict[tuple[str, ...], tuple[tuple[str, ...], list[str]]],
    report: ImportReport,
) -> ParsedRow:
    """`row` with its interests in canonical spelling; unknown ones reported and dropped."""
    interests = row.profile.interests
    if interests not in resolved:  # a list repeats a handful of interest sets many times
        resolved[interests] = classes.resolve(interests)
    known, unknown = resolved[interests]
    for value in unknown:
        report.problem(
            row.line,
            f"{classes.unknown(value)}; imported without that interest",
            bad_row=False,
        )
    if known == interests:
        return row
    if unknown and not known:
        report.note(row.line, "no known interest left: this subscriber will get every class")
    return row._replace(profile=row.profile._replace(interests=known))


def _batches(rows: Iterable[ParsedRow]) -> Iterator[list[ParsedRow]]:
    batch: list[ParsedRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


_PROFILE_COLUMNS = ("name", "tier", "locale", "timezone", "interests")


def driver_insert(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """INSERT many subscriber rows with one executemany straight to the driver.

    SQLAlchemy's per-value processing (SQLite datetimes become strings one by one) was most of
    the cost of a 100,000-row import; here each distinct value is converted once (an import's
    timestamps are all the same `now`), with the dialect's own processors, so the stored form is
    exactly what Core would have written. Every row must have the same keys; values are
    converted in place.
    """
    dialect = conn.dialect
    keys = list(rows[0])
    compiled = t.insert().compile(dialect=dialect, column_keys=keys)
    converters: dict[str, tuple[Any, dict[Any, Any]]] = {}
    for key in keys:
        process = t.c[key].type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            converters[key] = (process, {})
    if converters:
        for row in rows:
            for key, (process, seen) in converters.items():
                value = row[key]
                if value is not None:
                    if value not in seen:
                        seen[value] = process(value)
                    row[key] = seen[value]
    if compiled.positional:
        order = compiled.positiontup or []
        assert len(order) > 1  # itemgetter of one key would give a scalar, not a tuple
        values = itemgetter(*order)  # C-level, one tuple per row
        conn.exec_driver_sql(compiled.string, [values(r) for r in rows])
    else:
        conn.exec_driver_sql(compiled.string, rows)


class _Writer:
    """Applies batches of parsed rows inside the file's transaction."""

    def __init__(self, conn: Connection, report: ImportReport, source: str) -> None:
        self.conn = conn
        self.report = report
        self.source = source
        self.salt = installation_salt(conn)
        self.now = dt.datetime.now(dt.UTC)

    def apply(self, batch: list[ParsedRow]) -> None:
        emails = [r.profile.email for r in batch]
        cols = [t.c.id, t.c.email, t.c.status, *(t.c[c] for c in _PROFILE_COLUMNS)]
        existing = {
            row.email: row for row in self.conn.execute(select(*cols).where(t.c.email.in_(emails)))
        }
        hashes = {e: email_hash(self.salt, e) for e in emails}
        suppressed = suppressed_among(self.conn, hashes.values())
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        statuses: list[dict[str, Any]] = []
        for row in batch:
            old = existing.get(row.profile.email)
            hashed = hashes[row.profile.email]
            if old is None:
                self._new(row, hashed, suppressed.get(hashed), inserts)
            else:
                self._known(row, old, updates, statuses)
        self._write(inserts, updates, statuses, hashes)

    def _new(
        self, row: ParsedRow, hashed: str, reason: str | None, inserts: list[dict[str, Any]]
    ) -> None:
        if reason is not None:
            self.report.not_resubscribed += 1
            self.report.note(row.line, f"on the suppression list ({reason}): not re-subscribed")
            return
        values = new_row(row.profile, hashed, self.source, self.now)
        if row.status is not None and not row.status.mailable:
            values.update(status=row.status.value, status_changed_at=self.now)
            values["status_reason"] = f"{self.source}: status column"
            self.report.made_unmailable += 1
        inserts.append(values)
        self.report.added += 1

    def _known(
        self,
        row: ParsedRow,
        old: Any,
        updates: list[dict[str, Any]],
        statuses: list[dict[str, Any]],
    ) -> None:
        wanted = profile_values(row.profile)
        changed = tuple(old[3:]) != tuple(wanted[c] for c in _PROFILE_COLUMNS)
        if changed:
            updates.append({**wanted, "b_id": old.id, "updated_at": self.now})
        mailable = Status(old.status).mailable
        if row.status is not None and not row.status.mailable and mailable:
            statuses.append({"b_id": old.id, "status": row.status.value})
            self.report.made_unmailable += 1
            changed = True
        elif not mailable and (row.status is None or row.status.mailable):
            # Counted here only, not also as updated/unchanged: the summary's counts add up.
            self.report.not_resubscribed += 1
            kept = "profile updated, " if changed else ""
            self.report.note(row.line, f"stays {old.status}: {kept}not re-subscribed")
            return
        if changed:
            self.report.updated += 1
        else:
            self.report.unchanged += 1

    def _write(
        self,
        inserts: list[dict[str, Any]],
        updates: list[dict[str, Any]],
        statuses: list[dict[str, Any]],
        hashes: dict[str, str],
    ) -> None:
        if inserts:
            driver_insert(self.conn, inserts)
        if updates:
            values: dict[str, Any] = {c: bindparam(c) for c in (*_PROFILE_COLUMNS, "updated_at")}
            self.conn.execute(update(t).where(t.c.id == bindparam("b_id")).values(values), updates)
        if statuses:
            self.conn.execute(
                update(t)
                .where(t.c.id == bindparam("b_id"))
                .values(
                    status=bindparam("status"),
                    status_changed_at=self.now,
                    status_reason=f"{self.source}: status column",
                    updated_at=self.now,
                ),
                statuses,
            )
        self._suppress(inserts, statuses, hashes)

    def _suppress(
        self,
        inserts: list[dict[str, Any]],
        statuses: list[dict[str, Any]],
        hashes: dict[str, str],
    ) -> None:
        rows = [
            {"email_hash": v["email_hash"], "reason": v["status"], "created_at": self.now}
            for v in inserts
            if v["status"] != Status.ACTIVE.value
        ]
        if statuses:
            ids = [s["b_id"] for s in statuses]
            found = self.conn.execute(select(t.c.email_hash, t.c.status).where(t.c.id.in_(ids)))
            rows += [
                {"email_hash": h, "reason": status, "created_at": self.now} for h, status in found
            ]
        if rows:
            known = suppressed_among(self.conn, [r["email_hash"] for r in rows])
            fresh = [r for r in rows if r["email_hash"] not in known]
            if fresh:
                self.conn.execute(suppressions.insert(), fresh)


def import_stream(
    engine: Engine,
    stream: IO[bytes],
    *,
    source: str,
    default_zone: str,
    dry_run: bool = False,
    class_order: Sequence[str] | None = None,
) -> ImportReport:
    """Import one CSV in one transaction; with `dry_run`, report and roll back.

    Interests are checked against `class_order` (the configured `editions.class_order`; None:
    the default configuration's) plus the classes of the stored signals.
    """
    report = ImportReport(source=source, dry_run=dry_run)
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            writer = _Writer(conn, report, f"import:{source}")
            classes = known_classes(conn, class_order)
            for batch in _batches(parse_csv(stream, default_zone, report, classes)):
                writer.apply(batch)
        except CsvFileError as exc:
            trans.rollback()
            return _failed(report, str(exc))
        except IntegrityError:
            trans.rollback()
            return _failed(report, "subscribers changed during the import (run it again)")
        except BaseException:
            trans.rollback()
            raise
        if dry_run:
            trans.rollback()
        else:
            trans.commit()
    return report


def _failed(report: ImportReport, error: str) -> ImportReport:
    failed = ImportReport(source=report.source, dry_run=report.dry_run, file_error=error)
    failed.problems = report.problems
    return failed


def import_file(
    engine: Engine,
    path: Path,
    *,
    default_zone: str,
    dry_run: bool = False,
    class_order: Sequence[str] | None = None,
) -> ImportReport:
    """Import the CSV at `path` (see `import_stream`)."""
    try:
        stream = path.open("rb")
    except OSError as exc:
        return ImportReport(source=path.name, dry_run=dry_run, file_error=exc.strerror or str(exc))
    with stream:
        return import_stream(
            engine,
            stream,
            source=path.name,
            default_zone=default_zone,
            dry_run=dry_run,
            class_order=class_order,
        )


def export_rows(conn: Connection, out: IO[str], tier: Tier | None = None) -> int:
    """Write every subscriber as CSV (the import columns plus `status`), streamed; returns rows.

    The output imports back unchanged: tiers by key, interests `;`-joined, status last. A cell
    a spreadsheet would run as a formula gets a leading `'` (import removes it again).
    """
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    n = 0
    for s in iter_subscribers(conn, tier=tier):
        tier_, locale, status = s.tier.value, s.locale.value, s.status.value
        cells = [s.email, s.name, tier_, locale, s.timezone, interests_key(s.interests), status]
        writer.writerow([_defused(c) for c in cells])
        n += 1
    return n
