"""A vendor record declared once (`Field`, `Record`) and its one-pass, total parse.

Whatever the vendor sends ends as a typed row, a typed row with NULLed descriptive values and recorded
anomalies, a refused row with its reason, or (for an answer that is not rows at all) `UnusableAnswer`.
A field's role decides what a bad value costs:
- KEY identifies the row and MEASURE is what users sum or compare: a bad one refuses the row;
- DESCRIPTIVE is everything else: a bad one is stored as NULL, the row is kept, the anomaly recorded.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

import pandas as pd
import pyarrow as pa

from haier_pipeline.errors import HaierError
from haier_pipeline.records.kinds import Invalid, Kind, is_missing, storable_text
from haier_pipeline.redaction import redact

PAYLOAD_CHARS = 2000
# A record's `quirks` may leave, under this key of the row it returns, (column, raw value, reason) notes of values it
# read in place of what the vendor sent (a discount sent as "5%", read as 0.05): each becomes an anomaly of the row.
QUIRK_NOTES = "__quirk_notes__"
RAW_VALUE_CHARS = 200
DIFFERENT_DESCRIPTION = "a second row for the same key, different in descriptive values only; the first one is kept"
CONFLICTING_MEASURES = "rows for the same key disagree on a measure: neither is stored, the last good values stay"


class Role(StrEnum):
    KEY = "key"
    MEASURE = "measure"
    DESCRIPTIVE = "descriptive"


class UnusableAnswer(HaierError):
    """The answer is not rows at all (a number, a string): nothing in it can be read."""


@dataclass(frozen=True)
class Field:
    """One column. `vendor` is the key in the vendor's row ("outer.inner" for a nested one, typos
    included); None means the pipeline supplies the value (the item asked for, the fetch time)."""

    column: str
    kind: Kind
    role: Role
    description: str
    vendor: str | None = None
    required: bool = False
    # Read in place of a missing value, with an anomaly: the old integration's defaults.
    when_missing: Any = None


@dataclass(frozen=True)
class Anomaly:
    row_key: str
    field: str
    raw_value: str
    reason: str


@dataclass(frozen=True)
class Refusal:
    rule: str  # what was broken, without the value: "stock: is not a number"
    reason: str  # the rule with the value that broke it
    payload: str  # what the vendor sent (and the item asked for), JSON, secrets removed


@dataclass(frozen=True)
class Record:
    name: str
    endpoint: str
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    # The vague points of the vendor document, decided once: rewrites a raw row before its fields are read.
    quirks: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    # A rule across fields, on the row as read and the vendor's row: why the row must be refused, or None.
    rule: Callable[[dict[str, Any], dict[str, Any]], str | None] | None = None

    @cached_property
    def columns(self) -> list[str]:
        return [f.column for f in self.fields]

    def field(self, column: str) -> Field:
        return next(f for f in self.fields if f.column == column)

    @cached_property
    def containers(self) -> frozenset[str]:
        """The objects a declaration reads into, e.g. timelinessData for timelinessData.hour."""
        return frozenset(f.vendor.rsplit(".", 1)[0] for f in self.fields if f.vendor and "." in f.vendor)

    @cached_property
    def known_keys(self) -> frozenset[str]:
        return frozenset(f.vendor for f in self.fields if f.vendor) | self.containers

    def parse(self, answer: Any, context: Mapping[str, Any] | None = None) -> Parsed:
        """Read every row of one answer; `context` gives the pipeline-supplied columns."""
        if answer is None:
            answer = []
        elif isinstance(answer, dict):
            answer = [answer]
        elif not isinstance(answer, list):
            raise UnusableAnswer(
                f"{self.endpoint}: the answer is a {type(answer).__name__}, not rows; nothing in it can be read"
            )
        parsed = Parsed(self)
        for raw in answer:
            parsed.add(raw, dict(context or {}))
        return parsed


@dataclass
class Parsed:
    """The outcome of parsing answers of one record; `add` more answers and `extend` with other parses."""

    record: Record
    rows: list[dict[str, Any]] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    unknown_keys: Counter[str] = field(default_factory=Counter)
    unknown_examples: dict[str, str] = field(default_factory=dict)
    collapsed: int = 0
    # The first row served for each key, with what it was read from; and the keys whose rows disagreed on a measure.
    _first: dict[tuple[Any, ...], tuple[dict[str, Any], Any, dict[str, Any]]] = field(default_factory=dict, repr=False)
    _conflicted: set[tuple[Any, ...]] = field(default_factory=set, repr=False)

    @property
    def inputs(self) -> int:
        """Rows the vendor sent: each counted once, however it ended."""
        return len(self.rows) + len(self.refused) + self.collapsed

    def add(self, raw: Any, context: dict[str, Any]) -> None:
        if not isinstance(raw, dict):
            self.refuse(f"the row is a {type(raw).__name__}, not an object", raw, context)
            return
        vendor_row = self.record.quirks(raw) if self.record.quirks else raw
        notes = vendor_row.pop(QUIRK_NOTES, ()) if vendor_row is not raw else ()
        self._note_unknown_keys(vendor_row)
        row: dict[str, Any] = {}
        anomalies: list[tuple[str, Any, str]] = list(notes)
        for f in self.record.fields:
            value: Any = None
            try:
                value = context.get(f.column) if f.vendor is None else _dig(vendor_row, f.vendor)
                if is_missing(value) and f.when_missing is not None:
                    anomalies.append((f.column, value, f'missing; read as "{f.when_missing}"'))
                    value = f.when_missing
                read = f.kind.read(value)
                # A vendor quoting the request back (an error text with the password in it) must not store it.
                row[f.column] = redact(read) if isinstance(read, str) else read
                if row[f.column] is None and f.required:
                    raise Invalid("is missing")
            except Invalid as why:
                value = value if why.value is None else why.value
                if f.role is not Role.DESCRIPTIVE:
                    shown = "" if str(why) == "is missing" else f" (got {_short(value)})"
                    self.refuse(f"{f.column}: {why}", raw, context, detail=shown)
                    return
                row[f.column] = None
                anomalies.append((f.column, value, str(why)))
        if self.record.rule is not None and (broken := self.record.rule(row, vendor_row)) is not None:
            self.refuse(broken, raw, context)
            return
        key = tuple(row[column] for column in self.record.key)
        row_key = "/".join("" if part is None else str(part) for part in key)
        if key and all(part is not None for part in key):
            if self._same_key_again(key, row_key, row, raw, context):
                return
            self._first[key] = (row, raw, context)
        self.rows.append(row)
        self.anomalies += [Anomaly(row_key, column, _short(value), reason) for column, value, reason in anomalies]

    def _same_key_again(
        self, key: tuple[Any, ...], row_key: str, row: dict[str, Any], raw: Any, context: dict[str, Any]
    ) -> bool:
        """Whether a row for this key was served already: then an identical row is collapsed, and one that differs
        only in descriptive values is refused (the first one served is kept). Rows that disagree on a measure leave
        no row to trust: the first one is taken back and the key refused whole, now and for any later row."""
        if key in self._conflicted:
            self.refuse(CONFLICTING_MEASURES, raw, context, detail=f" ({row_key})")
            return True
        if key not in self._first:
            return False
        first, first_raw, first_context = self._first[key]
        if first == row:
            self.collapsed += 1
            return True
        measures = [f.column for f in self.record.fields if f.role is Role.MEASURE and first[f.column] != row[f.column]]
        if not measures:
            self.refuse(DIFFERENT_DESCRIPTION, raw, context, detail=f" ({row_key})")
            return True
        self._conflicted.add(key)
        self.rows = [kept for kept in self.rows if kept is not first]
        self.anomalies = [anomaly for anomaly in self.anomalies if anomaly.row_key != row_key]
        detail = f" ({row_key}: {', '.join(measures)})"
        self.refuse(CONFLICTING_MEASURES, first_raw, first_context, detail=detail)
        self.refuse(CONFLICTING_MEASURES, raw, context, detail=detail)
        return True

    def refuse(self, rule: str, raw: Any, context: Mapping[str, Any], detail: str = "") -> None:
        item = {f.column: context[f.column] for f in self.record.fields if f.vendor is None and f.role is Role.KEY}
        payload = redact(json_text({**{k: str(v) for k, v in item.items() if v is not None}, "vendor_row": raw}))
        if len(payload) > PAYLOAD_CHARS:
            payload = json_text({"truncated": payload[:PAYLOAD_CHARS]})
        self.refused.append(Refusal(rule, redact(rule + detail), payload))

    def extend(self, other: Parsed) -> None:
        self.rows += other.rows
        self.refused += other.refused
        self.anomalies += other.anomalies
        self.unknown_keys.update(other.unknown_keys)
        for key, example in other.unknown_examples.items():
            self.unknown_examples.setdefault(key, example)
        self.collapsed += other.collapsed

    def frame(self) -> pd.DataFrame:
        """The rows as typed columns, each of its kind's Arrow type: built from the values read, never read again."""
        columns = {
            f.column: pa.array([row[f.column] for row in self.rows], type=f.kind.arrow_type())
            for f in self.record.fields
        }
        return pa.table(columns).to_pandas(types_mapper=pd.ArrowDtype)

    def _note_unknown_keys(self, raw: dict[str, Any]) -> None:
        for key in _paths(raw, self.record.containers):
            if key not in self.record.known_keys:
                self.unknown_keys[key] += 1
                if key not in self.unknown_examples:
                    self.unknown_examples[key] = _short(_dig_quiet(raw, key))


def _dig(row: dict[str, Any], path: str) -> Any:
    value: Any = row
    walked: list[str] = []
    for part in path.split("."):
        if value is None:
            return None
        if not isinstance(value, dict):
            raise Invalid(f"cannot be read: {'.'.join(walked)} is a {type(value).__name__}, not an object", value)
        value = value.get(part)
        walked.append(part)
    return value


def _dig_quiet(row: dict[str, Any], path: str) -> Any:
    try:
        return _dig(row, path)
    except Invalid:
        return None


def _paths(raw: dict[str, Any], containers: frozenset[str], prefix: str = "") -> Iterable[str]:
    """The row's keys, and the keys inside the objects a declaration reads into (e.g. timelinessData.*)."""
    for key, value in raw.items():
        path = f"{prefix}{key}" if isinstance(key, str) else f"{prefix}{key!r}"
        yield path
        if isinstance(value, dict) and path in containers:
            yield from _paths(value, containers, path + ".")


def json_text(value: Any) -> str:
    """JSON text both databases store: readable unicode, or \\u escapes where it is not valid UTF-8."""
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
        try:
            return storable_text(text)
        except Invalid:
            return json.dumps(value, ensure_ascii=True, sort_keys=True, default=str)
    except (RecursionError, TypeError, ValueError):
        return '"(not representable as JSON)"'


def _short(value: Any) -> str:
    text = redact(json_text(value))
    return text if len(text) <= RAW_VALUE_CHARS else text[: RAW_VALUE_CHARS - 3] + "..."
