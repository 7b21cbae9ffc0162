"""The check rules on their own: what an operator reads when a gate fails."""

from __future__ import annotations

from collections import Counter

from haier_pipeline.checks.rules import schema_gate


def test_a_failed_gate_never_reads_as_within_the_limit_and_samples_the_refusals() -> None:
    sample = [("stock: is not a number", '{"stock": "N/A"}')] * 3
    result = schema_gate(
        total=154,
        refused=16,
        unanswered=0,
        structural_errors=[],
        rules=Counter({"stock: is not a number": 16}),
        max_ratio=0.1,
        sample=sample,
    )
    assert not result.passed
    assert "16 of 154 inputs (10.4%) were refused, more than the allowed 10.0%" in result.description
    assert "the first 3 with their reasons are in this check's refused_sample" in result.description
    assert result.metadata["refused_sample"].value == [{"reason": r, "payload": p} for r, p in sample]


def test_a_passing_gate_carries_no_sample_when_nothing_was_refused() -> None:
    result = schema_gate(
        total=10, refused=0, unanswered=0, structural_errors=[], rules=Counter(), max_ratio=0.1, sample=[]
    )
    assert result.passed and "refused_sample" not in result.metadata
