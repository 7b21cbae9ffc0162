"""The configuration files an operator writes by hand: the counties (data/counties.csv) and the orders to track
(HAIER_ORDERS_FILE). Read by the settings, the assets, `check` and the sync's preflight alike, so they agree on what
a good file is."""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from haier_pipeline.errors import HaierConfigurationError
from haier_pipeline.records.kinds import COUNTY_CODE, MEMBER_ID

COUNTIES_HINT = "set HAIER_COUNTY_CODES=110101,310104 or create the file with a county_code column"
ORDER_COLUMNS = "an order_code column, optional delivery_record_code and member_id"


def csv_rows(path: Path, named: str, column: str, header: str, unreadable: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Each row of the CSV file at `path` that has a value in `column`, with its line number; names and values
    stripped. Raises ValueError saying how to fix the file, named `named`: no `column` in the header row ("needs a
    header row with `header`"), not UTF-8, or unreadable ("cannot be read (why): `unreadable`")."""
    try:
        # utf-8-sig: Excel's "CSV UTF-8" starts with a byte order mark, which would hide the first column's name.
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            # Stripped: a hand-written "order_code, member_id" names its columns all the same.
            reader.fieldnames = [name.strip() for name in reader.fieldnames or []]
            if column not in reader.fieldnames:
                raise ValueError(f"{named} needs a header row with {header}")
            for row in reader:
                # A short line's missing fields are None; a long line's extra ones a list under None.
                values = {name: value.strip() for name, value in row.items() if isinstance(value, str)}
                if values.get(column):
                    yield reader.line_num, values
    except UnicodeDecodeError:
        raise ValueError(f"{named} is not UTF-8 text: save it as UTF-8 (Excel: CSV UTF-8)") from None
    except OSError as error:
        raise ValueError(f"{named} cannot be read ({error.strerror}): {unreadable}") from None


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


def read_county_file(path: Path) -> dict[str, float]:
    """County code -> weight (the optional `weight` column, 1 when empty). Raises ValueError naming the file."""
    if not path.exists():
        raise ValueError(f"HAIER_COUNTY_CODES is not set and {path} does not exist: {COUNTIES_HINT}")
    header = (
        "a county_code column: add one as its first line (county_code, optionally ,weight), or set "
        "HAIER_COUNTY_CODES=110101,310104"
    )
    weights: dict[str, float] = {}
    bad = []
    for line, row in csv_rows(path, str(path), "county_code", header, COUNTIES_HINT):
        code, weight = row["county_code"], row.get("weight", "")
        if problem := county_code_problem(code):
            bad.append(f"{path} line {line}: county code {problem}")
            continue
        try:
            weights.setdefault(code, float(weight) if weight else 1.0)
        except ValueError:
            weights[code] = -1.0
        if not weights[code] >= 0:
            raise ValueError(f"{path} line {line}: weight {weight!r} is not a number >= 0")
    if bad:
        # Every bad line at once, so the file is fixed in one pass.
        raise ValueError(f"{'; '.join(bad)} (county codes are 6 ASCII digits, e.g. 110101)")
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
    problems: list[str] = []
    orders: dict[str, TrackedOrder] = {}
    try:
        for line, row in csv_rows(file, named, "order_code", ORDER_COLUMNS, "make it readable"):
            code, member = row["order_code"], row.get("member_id", "")
            if member and not MEMBER_ID.accepts(member):
                problems.append(
                    f"{named} line {line}: member_id {member!r} is not a whole number of 1 or more: "
                    "write the member's digits (ASCII, not full-width) or leave it empty"
                )
                continue
            orders[code] = TrackedOrder(code, row.get("delivery_record_code") or None, int(member) if member else None)
    except ValueError as error:
        raise HaierConfigurationError([str(error)]) from None
    if problems:
        raise HaierConfigurationError(problems)
    return list(orders.values())


def orders_file_problem(path: str) -> str | None:
    """Every problem the logistics step would stop on in HAIER_ORDERS_FILE, in one line, or None (checked by
    `check`, and by `sync` before a run that tracks orders)."""
    try:
        read_orders(path)
    except HaierConfigurationError as error:
        return "; ".join(error.problems)
    return None
