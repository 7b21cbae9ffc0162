"""Split a raw frame into the rows that load and the rows that go to `rejected_rows`, with reasons."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pandera.pandas as pa

from haier_pipeline.haier.redaction import redact
from haier_pipeline.validation.rules import describe


@dataclass
class Split:
    valid: pd.DataFrame
    rejected: pd.DataFrame  # columns: reason, payload (JSON text, secrets removed)
    structural_errors: list[str] = field(default_factory=list)
    rule_failures: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return len(self.valid) + len(self.rejected)

    @property
    def rejected_share(self) -> float:
        return len(self.rejected) / self.total if self.total else 0.0


def split_valid(frame: pd.DataFrame, model: type[pa.DataFrameModel]) -> Split:
    """Validate lazily; row-level failures quarantine their rows, structural ones fail the whole frame."""
    frame = frame.reset_index(drop=True)
    try:
        model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        return _split_failures(frame, errors.failure_cases)
    return Split(valid=frame, rejected=_rejected_frame([], []))


def _split_failures(frame: pd.DataFrame, cases: pd.DataFrame) -> Split:
    structural = cases[cases["index"].isna()]
    row_cases = cases[cases["index"].notna()]
    reasons: dict[int, list[str]] = {}
    rules: Counter[str] = Counter()
    for case in row_cases.itertuples(index=False):
        index = int(case.index)
        reason = f"{case.column}: {describe(str(case.check))} (got {_short(case.failure_case)})"
        if reason not in reasons.setdefault(index, []):
            reasons[index].append(reason)
            rules[str(case.check)] += 1
    structural_errors = [
        f"{case.column}: {case.check} ({_short(case.failure_case)})" for case in structural.itertuples(index=False)
    ]
    bad = sorted(reasons)
    rejected = _rejected_frame(
        ["; ".join(reasons[index]) for index in bad],
        [payload_json(frame.loc[index].to_dict()) for index in bad],
    )
    valid = frame.drop(index=bad).reset_index(drop=True)
    return Split(valid=valid, rejected=rejected, structural_errors=structural_errors, rule_failures=rules)


def _rejected_frame(reasons: list[str], payloads: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"reason": reasons, "payload": payloads}, dtype=object)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def payload_json(row: dict[str, Any]) -> str:
    """The refused row as JSON for a human to review, passed through the redaction layer."""
    cleaned = {key: (None if _is_nan(value) else value) for key, value in row.items()}
    return redact(json.dumps(cleaned, ensure_ascii=False, default=str, sort_keys=True))


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value
