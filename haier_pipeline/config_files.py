"""The configuration files an operator writes by hand: the accounts (HAIER_ACCOUNTS_FILE), the counties
(data/counties.csv) and the orders to track (HAIER_ORDERS_FILE). Read by the settings, the assets, `check` and the
sync's preflight alike, so they agree on what a good file is."""

from __future__ import annotations

import csv
import difflib
import re
import tomllib
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from haier_pipeline.accounts import ACCOUNT_NAME
from haier_pipeline.errors import HaierConfigurationError
from haier_pipeline.records.kinds import COUNTY_CODE, MEMBER_ID

COUNTIES_HINT = "set HAIER_COUNTY_CODES=110101,310104 or create the file with a county_code column"
ORDER_COLUMNS = "an order_code column, optional delivery_record_code and member_id"
ORDER_COLUMNS_READ = ("order_code", "delivery_record_code", "member_id")


def csv_rows(path: Path, named: str, column: str, header: str, unreadable: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Each row of the CSV file at `path` that has a value in `column`, with its line number; names and values
    stripped. Raises ValueError saying how to fix the file, named `named`: no `column` in the header row ("needs a
    header row with `header`"), not UTF-8, or unreadable ("cannot be read (why): `unreadable`")."""
    table = read_csv(path, named, column, header, unreadable)
    for line, values in table.rows:
        if values.get(column):
            yield line, values


@dataclass
class CsvTable:
    """A hand-written CSV file as read: its columns, its rows that are not blank (line number, stripped values), and
    the lines with more fields than the header has columns."""

    columns: list[str]
    rows: list[tuple[int, dict[str, str]]]
    long_lines: list[int]


def read_csv(path: Path, named: str, column: str, header: str, unreadable: str) -> CsvTable:
    """The whole file; raises ValueError as csv_rows does."""
    try:
        # utf-8-sig: Excel's "CSV UTF-8" starts with a byte order mark, which would hide the first column's name.
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            # Stripped: a hand-written "order_code, member_id" names its columns all the same.
            columns = [name.strip() for name in reader.fieldnames or []]
            reader.fieldnames = columns
            if column not in columns:
                raise ValueError(f"{named} needs a header row with {header}")
            rows, long_lines = [], []
            for row in reader:
                # A short line's missing fields are None; a long line's extra ones a list under None.
                if any(str(value).strip() for value in row.get(None) or []):
                    long_lines.append(reader.line_num)
                values = {name: value.strip() for name, value in row.items() if isinstance(value, str)}
                if any(values.values()):
                    rows.append((reader.line_num, values))
    except UnicodeDecodeError:
        raise ValueError(f"{named} is not UTF-8 text: save it as UTF-8 (Excel: CSV UTF-8)") from None
    except OSError as error:
        raise ValueError(f"{named} cannot be read ({error.strerror}): {unreadable}") from None
    return CsvTable(columns, rows, long_lines)


def layout_problems(named: str, table: CsvTable, key: str, read: tuple[str, ...]) -> list[str]:
    """What is wrong with the file's layout, line by line: a column named twice, a column that looks like a
    misspelt one of `read` (it would be ignored: `wieght` left every weight at 1), lines with more fields than
    the header, and lines with values but no `key`. Other columns (a county's name, a note) are the user's own."""
    problems = []
    for name in sorted({name for name in table.columns if table.columns.count(name) > 1}):
        problems.append(f"{named}: the column {name!r} is named twice in the header row; keep one")
    for name in unread_columns(table.columns, read):
        if meant := misspelt_column(name, read):
            problems.append(
                f"{named}: the column {name!r} is not read: did you mean {meant!r}? (columns read: {', '.join(read)})"
            )
    problems += [f"{named} line {line}: more fields than the header row has columns" for line in table.long_lines]
    problems += [f"{named} line {line}: no {key}" for line, values in table.rows if not values.get(key)]
    return problems


def unread_columns(columns: list[str], read: tuple[str, ...]) -> list[str]:
    return [name for name in dict.fromkeys(columns) if name and name not in read]


def misspelt_column(name: str, read: tuple[str, ...]) -> str | None:
    """The column of `read` that `name` looks like a misspelling of (case, blanks, a typo), else None."""
    normal = re.sub(r"[\s_-]+", "_", name.strip().lower())
    if normal in read:
        return normal
    close = difflib.get_close_matches(normal, read, n=1, cutoff=0.75)
    return close[0] if close else None


def duplicate_problem(named: str, line: int, what: str, first: int) -> str:
    return f"{named} line {line}: {what} is already on line {first} (keep one of the two lines)"


def in_file_order(problems: list[str]) -> list[str]:
    """The header's problems first, then each line's, in the order of the file."""

    def line_of(problem: str) -> int:
        found = re.search(r" line (\d+): ", problem)
        return int(found.group(1)) if found else 0

    return sorted(problems, key=line_of)


def county_code_problem(code: str) -> str | None:
    """Why `code` is not a county code the API takes (6 ASCII digits), saying how to write it; None when it is."""
    if COUNTY_CODE.accepts(code):
        return None
    # Refused rather than silently converted: the code is then the same everywhere the user wrote it (variable,
    # file, `query stock`), and NFKC would also turn circled and superscript digits into codes nobody meant.
    if typed := ascii_typed(code):
        return (
            f"{code!r} has characters that are not ASCII (full-width digits or commas, as a Chinese input method "
            f"types them, are not accepted): type it as {typed}"
        )
    return f"{code!r} is not 6 digits"


def ascii_typed(text: str) -> str | None:
    """`text` with a Chinese input method's full-width digits, letters and commas typed as ASCII, when they are
    what makes it not ASCII; else None."""
    typed = unicodedata.normalize("NFKC", text)
    return typed if typed != text and typed.isascii() else None


COUNTY_COLUMNS = ("county_code", "weight")


def read_county_file(path: Path) -> dict[str, float]:
    """County code -> weight (the optional `weight` column, 1 when empty). Raises ValueError naming the file and
    every bad line at once: a bad code or weight, a county listed twice, a misspelt column, a line without a code."""
    if not path.exists():
        raise ValueError(f"HAIER_COUNTY_CODES is not set and {path} does not exist: {COUNTIES_HINT}")
    header = (
        "a county_code column: add one as its first line (county_code, optionally ,weight), or set "
        "HAIER_COUNTY_CODES=110101,310104"
    )
    table = read_csv(path, str(path), "county_code", header, COUNTIES_HINT)
    bad = layout_problems(str(path), table, "county_code", COUNTY_COLUMNS)
    weights: dict[str, float] = {}
    first_line: dict[str, int] = {}
    bad_codes = False
    for line, row in table.rows:
        code, weight = row.get("county_code", ""), row.get("weight", "")
        if not code:
            continue  # named by layout_problems
        if problem := county_code_problem(code):
            bad.append(f"{path} line {line}: county code {problem}")
            bad_codes = True
            continue
        if code in first_line:
            bad.append(duplicate_problem(str(path), line, f"county {code}", first_line[code]))
            continue
        first_line[code] = line
        try:
            value = float(weight) if weight else 1.0
        except ValueError:
            value = -1.0
        if not (value >= 0 and value != float("inf")):
            bad.append(f"{path} line {line}: weight {weight!r} is not a number >= 0")
            continue
        weights[code] = value
    if bad:
        # Every bad line at once, so the file is fixed in one pass.
        hint = " (county codes are 6 ASCII digits, e.g. 110101)" if bad_codes else ""
        raise ValueError("; ".join(in_file_order(bad)) + hint)
    return weights


@dataclass(frozen=True)
class TrackedOrder:
    order_code: str
    delivery_record_code: str | None = None
    member_id: int | None = None


def read_orders(path: str) -> list[TrackedOrder]:
    """The orders to track, from HAIER_ORDERS_FILE (order_code, optional delivery_record_code, member_id). Raises
    HaierConfigurationError naming every problem; `check` and the sync's preflight ask it too, so a file a run would
    refuse is refused before the run."""
    file = Path(path)
    named = f"HAIER_ORDERS_FILE={path!r}"
    if file.is_dir():
        raise HaierConfigurationError([f"{named} is a folder; name a CSV file with {ORDER_COLUMNS}"])
    if not file.exists():
        raise HaierConfigurationError(
            [f"{named} does not exist: create it (a CSV with {ORDER_COLUMNS}) or point HAIER_ORDERS_FILE at one"]
        )
    try:
        table = read_csv(file, named, "order_code", ORDER_COLUMNS, "make it readable")
    except ValueError as error:
        raise HaierConfigurationError([str(error)]) from None
    # Every bad line at once, so the file is fixed in one pass.
    problems = layout_problems(named, table, "order_code", ORDER_COLUMNS_READ)
    orders: dict[str, TrackedOrder] = {}
    first_line: dict[str, int] = {}
    for line, row in table.rows:
        code, member = row.get("order_code", ""), row.get("member_id", "")
        if not code:
            continue  # named by layout_problems
        if code in first_line:
            problems.append(duplicate_problem(named, line, f"order {code}", first_line[code]))
            continue
        first_line[code] = line
        if member and not MEMBER_ID.accepts(member):
            problems.append(
                f"{named} line {line}: member_id {member!r} is not a whole number of 1 or more: "
                "write the member's digits (ASCII, not full-width) or leave it empty"
            )
            continue
        orders[code] = TrackedOrder(code, row.get("delivery_record_code") or None, int(member) if member else None)
    if problems:
        raise HaierConfigurationError(in_file_order(problems))
    return list(orders.values())


def orders_file_problem(path: str) -> str | None:
    """Every problem the logistics step would stop on in HAIER_ORDERS_FILE, in one line, or None (checked by
    `check`, and by `sync` before a run that tracks orders)."""
    try:
        read_orders(path)
    except HaierConfigurationError as error:
        return "; ".join(error.problems)
    return None


def columns_not_read(counties_file: Path | None, orders_file: str) -> str:
    """For `check`: the columns of the hand-written files that nothing reads (a county's name, a note), so that one
    meant to be read is noticed; empty when there are none (or a file cannot be read: its problem is named
    elsewhere)."""
    notes = []
    for path, key, read in (
        (counties_file, "county_code", COUNTY_COLUMNS),
        (orders_file, "order_code", ORDER_COLUMNS_READ),
    ):
        if path is None:
            continue
        try:
            table = read_csv(Path(path), str(path), key, key, "")
        except ValueError:
            continue
        if unread := unread_columns(table.columns, read):
            notes.append(f"{path}: {', '.join(unread)} not read (only {', '.join(read)})")
    return "".join(f"; {note}" for note in notes)


# The accounts file (HAIER_ACCOUNTS_FILE): what an account may say of itself. Its secrets are never there: they come
# from HAIER_<NAME>_<SECRET>, falling back to HAIER_<SECRET>.
ACCOUNT_FIELDS = (
    "base_url",
    "token_url",
    "customer_code",
    "send_to_code",
    "supplier_code",
    "auth_scheme",
    "rate_limit",
    "counties",
    "counties_file",
    "orders_file",
)
ACCOUNT_SECRETS = ("client_id", "client_secret", "password", "seller_password", "customer_password")
ACCOUNTS_EXAMPLE = (
    '[defaults] (optional), then one [account.NAME] per account, e.g. [account.north] customer_code = "..."'
)


@dataclass(frozen=True)
class AccountsFile:
    """The accounts file as written: its [defaults] and each [account.NAME]'s fields, in the file's order; or every
    problem found in it."""

    defaults: dict[str, Any]
    accounts: dict[str, dict[str, Any]]
    problems: list[str]


def read_accounts_file(path: Path) -> AccountsFile:
    """Every problem is named at once: TOML it cannot read, a secret written in it (with its line), an unknown
    table or key, an account name that cannot key the warehouse's rows."""
    named = f"HAIER_ACCOUNTS_FILE={str(path)!r}"
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return AccountsFile({}, {}, [f"{named} is not UTF-8 text: save it as UTF-8"])
    except OSError as error:
        return AccountsFile(
            {},
            {},
            [
                f"{named} cannot be read ({error.strerror}): make it readable, or point the "
                "variable at the accounts file"
            ],
        )
    problems = [
        f"{named} line {number}: {key} is a secret and never goes in the accounts file: remove the line and set "
        f"HAIER_<NAME>_{key.upper()} (or HAIER_{key.upper()} for every account) in the environment or .env"
        for number, line in enumerate(text.splitlines(), start=1)
        if (match := re.match(r"\s*['\"]?(\w+)['\"]?\s*=", line)) and (key := match.group(1)) in ACCOUNT_SECRETS
    ]
    try:
        content = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        return AccountsFile({}, {}, [*problems, f"{named} is not valid TOML ({error}): {ACCOUNTS_EXAMPLE}"])
    defaults = content.pop("defaults", {})
    accounts = content.pop("account", {})
    problems += [f"{named}: [{table}] is not a table this file has: {ACCOUNTS_EXAMPLE}" for table in content]
    if not isinstance(defaults, dict) or not isinstance(accounts, dict):
        return AccountsFile({}, {}, [*problems, f"{named}: {ACCOUNTS_EXAMPLE}"])
    if not accounts:
        problems.append(f"{named} names no account: {ACCOUNTS_EXAMPLE}")
    for where, fields in [
        ("[defaults]", defaults),
        *((f"[account.{name}]", fields) for name, fields in accounts.items()),
    ]:
        if not isinstance(fields, dict):
            problems.append(f"{named}: {where} must be a table of fields")
            continue
        problems += [
            f"{named} {where}: {key} is not a field of an account (it has {', '.join(ACCOUNT_FIELDS)})"
            for key in fields
            if key not in ACCOUNT_FIELDS and key not in ACCOUNT_SECRETS
        ]
        if "counties" in fields and "counties_file" in fields:
            problems.append(f"{named} {where}: give counties or counties_file, not both")
    problems += [
        f"{named} [account.{name}]: the account name {name!r} keys every row of the warehouse: use lowercase "
        "letters, digits and _ (at most 40)"
        for name in accounts
        if not ACCOUNT_NAME.fullmatch(name)
    ]
    tables = {name: fields for name, fields in accounts.items() if isinstance(fields, dict)}
    return AccountsFile(defaults, tables, problems)
