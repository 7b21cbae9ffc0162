"""The pandera schema of a record's frame, derived from its declaration, and the gate that applies it.

The parse already refuses what a schema rule would refuse, so on a healthy pipeline the gate finds
nothing: it is the declared contract checked on the frame that is about to be written. A row that fails
it anyway is refused with the rule's name; a frame whose structure is wrong fails the step.
"""

from __future__ import annotations

from functools import cache

import pandas as pd
import pandera.pandas as pa

from haier_pipeline.records import Parsed, Record
from haier_pipeline.records.record import Refusal, json_text


@cache
def gate_schema(record: Record) -> pa.DataFrameSchema:
    columns = {
        f.column: pa.Column(
            object,
            nullable=not f.required,
            checks=pa.Check(lambda values, kind=f.kind: values.map(kind.accepts), name=f"is a {f.kind.name}"),
        )
        for f in record.fields
    }
    checks = [pa.Check(_one_row_per_key(record.key), name="one row per key")] if record.key else []
    return pa.DataFrameSchema(columns, checks=checks, strict=True, ordered=True, name=record.name)


def _one_row_per_key(key: tuple[str, ...]):
    def check(frame: pd.DataFrame) -> pd.Series:
        complete = frame[list(key)].notna().all(axis=1)
        return ~complete | ~frame[list(key)].astype(str).duplicated(keep="first")

    return check


def validate(parsed: Parsed) -> list[str]:
    """Refuse the rows that break a rule of the record's schema; return the structural errors."""
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
        return [f"{case.column}: {case.check} ({case.failure_case})" for case in structural.itertuples(index=False)]
    return []
