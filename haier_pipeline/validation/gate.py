"""The pandera schema of a record's frame, derived from its declaration, and the gate that applies it.

The frame is typed (each column of its kind's Arrow type), so the gate checks dtypes, each kind's range and pattern as
vectorized pandera checks, and one row per key: it never reads a value again. The parse already refuses what a schema
rule would refuse, so on a healthy pipeline the gate finds nothing: it is the declared contract checked on the frame
that is about to be written. A row that fails it anyway is refused with the rule's name; a frame whose structure is
wrong fails the step.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import pandas as pd
import pandera.pandas as pa

from haier_pipeline.records import Parsed, Record
from haier_pipeline.records.kinds import DecimalKind, IntegerKind, Kind, TextKind
from haier_pipeline.records.record import Refusal, json_text


@cache
def gate_schema(record: Record) -> pa.DataFrameSchema:
    columns = {
        f.column: pa.Column(
            pd.ArrowDtype(f.kind.arrow_type()),
            nullable=not f.required,
            checks=[pa.Check(check, name=f"is a {f.kind.name}")] if (check := kind_check(f.kind)) else [],
        )
        for f in record.fields
    }
    checks = [pa.Check(_one_row_per_key(record.key), name="one row per key")] if record.key else []
    return pa.DataFrameSchema(columns, checks=checks, strict=True, ordered=True, name=record.name)


def kind_check(kind: Kind) -> Callable[[pd.Series], pd.Series] | None:
    """The kind's range or pattern, vectorized over a typed column (nulls are not checked: nullable says if they may
    be there); None when its Arrow type says all there is (a flag, a day, a moment)."""
    if isinstance(kind, DecimalKind | IntegerKind):
        low, high = kind.minimum, kind.maximum

        def within(values: pd.Series) -> pd.Series:
            ok = pd.Series(True, index=values.index)
            if low is not None:
                ok &= values >= low
            if high is not None:
                ok &= values <= high
            return ok

        return within
    if isinstance(kind, TextKind) and kind.pattern is not None:
        pattern = kind.pattern
        return lambda values: values.str.fullmatch(pattern)
    return None


def _one_row_per_key(key: tuple[str, ...]) -> Callable[[pd.DataFrame], pd.Series]:
    def check(frame: pd.DataFrame) -> pd.Series:
        complete = frame[list(key)].notna().all(axis=1)
        return ~complete | ~frame[list(key)].duplicated(keep="first")

    return check


def gate(parsed: Parsed) -> tuple[pd.DataFrame, list[str]]:
    """The parsed rows as a typed frame, without the rows that break a rule of the record's schema (refused); and the
    structural errors."""
    frame = parsed.frame()
    try:
        gate_schema(parsed.record).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        structural = cases[cases["index"].isna()]
        broken: dict[int, str] = {}
        for case in cases[cases["index"].notna()].itertuples(index=False):
            broken.setdefault(int(case.index), f"{case.column or 'row'}: {case.check}")
        for index in sorted(broken, reverse=True):
            row = parsed.rows.pop(index)
            parsed.refused.append(Refusal(broken[index], broken[index], json_text(row)))  # exact decimals, ISO dates
        kept = frame.drop(index=list(broken)).reset_index(drop=True)
        return kept, [
            f"{case.column}: {case.check} ({case.failure_case})" for case in structural.itertuples(index=False)
        ]
    return frame, []


def validate(parsed: Parsed) -> list[str]:
    """Refuse the rows that break a rule of the record's schema; the structural errors."""
    return gate(parsed)[1]
