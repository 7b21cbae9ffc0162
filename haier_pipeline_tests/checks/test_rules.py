"""The check rules on their own: what an operator reads when a gate fails."""

from __future__ import annotations

from collections import Counter

from haier_pipeline.defs.haier_catalog.checks import field_anomalies_check, schema_gate


def test_a_failed_gate_never_reads_as_within_the_limit_and_samples_the_refusals() -> None:
    sample = [("stock: is not a number", '{"stock": "N/A"}')] * 2 + [("stock: is missing", "x" * 600)]
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
    shown = result.metadata["refused_sample"].value
    assert shown[:2] == [{"reason": "stock: is not a number", "payload": {"stock": "N/A"}}] * 2, "objects, not text"
    assert shown[2]["payload"] == "x" * 500 + "… (cut; the whole row is in rejected_rows)"


def test_the_anomalies_check_says_nothing_was_stored_when_a_blocking_check_failed() -> None:
    by_field = Counter({"is_sales": 11})
    assert (
        field_anomalies_check(by_field).description
        == "11 descriptive values stored as NULL (is_sales: 11); see field_anomalies."
    )
    failed = field_anomalies_check(by_field, written=False).description
    assert "stored" not in failed and "nothing was written (a blocking check failed)" in failed


def test_a_passing_gate_carries_no_sample_when_nothing_was_refused() -> None:
    result = schema_gate(
        total=10, refused=0, unanswered=0, structural_errors=[], rules=Counter(), max_ratio=0.1, sample=[]
    )
    assert result.passed and "refused_sample" not in result.metadata
