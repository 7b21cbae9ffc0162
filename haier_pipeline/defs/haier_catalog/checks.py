"""An endpoint's asset checks: the schema gate and the anomalies warning of every record, the checks its write
disposition keeps (a listing's deactivation guard, one open version per key, a stock day's coverage), and its own
declared rules; each is a function to one dg.AssetCheckResult, which the step yields with its data."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import dagster as dg
import pandas as pd

from haier_pipeline.endpoints.declaration import Endpoint, Rule, SoftDelete, StockDay, Versions, Write

SCHEMA_GATE = "schema_gate"
FIELD_ANOMALIES = "field_anomalies"
SAMPLE_PAYLOAD_CHARS = 500


def schema_gate_spec(asset: dg.AssetKey) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        SCHEMA_GATE,
        asset=asset,
        blocking=True,
        description="Blocking: the frame matches its record's declared schema and at most HAIER_MAX_REJECTED_RATIO "
        "of the step's input was refused (bad key or measure, unanswered item). When it fails nothing is written "
        "and nothing downstream runs.",
    )


def schema_gate(
    *,
    total: int,
    refused: int,
    unanswered: int,
    structural_errors: list[str],
    rules: Counter[str],
    max_ratio: float,
    sample: Sequence[tuple[str, str]] = (),
) -> dg.AssetCheckResult:
    """`total` counts each input once (rows the vendor sent, items asked that never became rows). `sample`: some
    refused inputs as (reason, redacted payload), kept in the run's log: when the gate fails, nothing reaches
    rejected_rows."""
    share = refused / total if total else 0.0
    too_many = share > max_ratio
    passed = not structural_errors and not too_many
    unanswered_note = f", {unanswered} of them unanswered by the API" if unanswered else ""
    if structural_errors:
        description = "The frame does not match its record's schema: " + "; ".join(structural_errors)
    elif too_many:
        description = (
            # One decimal: 10.4 % must not read as "10 %, more than the allowed 10 %".
            f"{refused} of {total} inputs ({share:.1%}) were refused{unanswered_note}, more than the allowed "
            f"{max_ratio:.1%} (HAIER_MAX_REJECTED_RATIO). Nothing was written: the first {len(sample)} with "
            "their reasons are in this check's refused_sample, in the run's log."
        )
    else:
        description = f"{refused} of {total} inputs refused{unanswered_note}."
    return dg.AssetCheckResult(
        check_name=SCHEMA_GATE,
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=description,
        metadata={
            "inputs": total,
            "refused": refused,
            "unanswered": unanswered,
            "refused_share": round(share, 4),
            "refused_by_rule": dg.MetadataValue.json(dict(rules.most_common())),
            **({"refused_sample": _sample(sample)} if sample else {}),
        },
    )


def _sample(rows: Sequence[tuple[str, str]]) -> dg.JsonMetadataValue:
    return dg.MetadataValue.json([{"reason": reason, "payload": _sample_payload(payload)} for reason, payload in rows])


def _sample_payload(payload: str) -> Any:
    """The refused row as the object it is (as text it was JSON inside JSON); one too long to show whole is cut, as
    text, and says so."""
    if len(payload) > SAMPLE_PAYLOAD_CHARS:
        return payload[:SAMPLE_PAYLOAD_CHARS] + "… (cut; the whole row is in rejected_rows)"
    try:
        return json.loads(payload)
    except ValueError:
        return payload


def field_anomalies_spec(asset: dg.AssetKey) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        FIELD_ANOMALIES,
        asset=asset,
        description="Warning when descriptive values could not be read and were stored as NULL (rows kept); "
        "each is in the field_anomalies table.",
    )


def field_anomalies_check(by_field: Counter[str], written: bool = True) -> dg.AssetCheckResult:
    """`written`: False when a blocking check failed, so that nothing, NULLs included, was stored."""
    total = sum(by_field.values())
    counts = f" ({', '.join(f'{name}: {n}' for name, n in by_field.most_common())})" if total else ""
    return dg.AssetCheckResult(
        check_name=FIELD_ANOMALIES,
        passed=total == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{total} descriptive values stored as NULL{counts}; see field_anomalies."
        if written
        else f"{total} descriptive values could not be read{counts}; nothing was written (a blocking check failed).",
        metadata={"anomalies": total, "by_field": dg.MetadataValue.json(dict(by_field.most_common()))},
    )


DEACTIVATION_GUARD = "deactivation_guard"


def deactivation_guard_spec(asset: dg.AssetKey) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        DEACTIVATION_GUARD,
        asset=asset,
        blocking=True,
        description="Blocking: one listing may deactivate at most HAIER_MAX_DEACTIVATE_RATIO of the active "
        "products (an empty listing included); past it nothing changes.",
    )


def deactivation_guard(active_before: int, would_deactivate: int, max_ratio: float) -> dg.AssetCheckResult:
    share = would_deactivate / active_before if active_before else 0.0
    passed = share <= max_ratio
    description = (
        f"The listing would deactivate {would_deactivate} of {active_before} active products ({share:.0%}); "
        f"the limit is {max_ratio:.0%}."
    )
    if not passed:
        description += (
            " Nothing was changed. If the catalog really shrank, raise HAIER_MAX_DEACTIVATE_RATIO for one run."
        )
    return dg.AssetCheckResult(
        check_name=DEACTIVATION_GUARD,
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=description,
        metadata={
            "active_before": active_before,
            "would_deactivate": would_deactivate,
            "share": round(share, 4),
        },
    )


ONE_OPEN_VERSION = "one_open_version_per_product"


def one_open_version_spec(asset: dg.AssetKey) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        ONE_OPEN_VERSION,
        asset=asset,
        description="Every key of the source has exactly one open version (valid_to is null).",
    )


def one_open_version(open_versions: pd.DataFrame) -> dg.AssetCheckResult:
    duplicated = open_versions[open_versions["open_versions"] != 1]
    return dg.AssetCheckResult(
        check_name=ONE_OPEN_VERSION,
        passed=duplicated.empty,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{len(duplicated)} keys have other than one open version.",
        metadata={"violations": len(duplicated)},
    )


EVERY_PAIR_ANSWERED = "every_pair_answered"


COVERAGE = "coverage"


def stock_rule_specs(asset: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            COVERAGE,
            asset=asset,
            description="Warning when today's snapshot covers less than every (product, county) pair: a call budget "
            "or deadline skipped some (asked first next time), or some went unanswered.",
        ),
        dg.AssetCheckSpec(
            EVERY_PAIR_ANSWERED,
            asset=asset,
            description="Warning when some (product, county) pairs got no answer after every retry.",
        ),
    ]


def every_pair_answered(pairs: int, unanswered: int) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=EVERY_PAIR_ANSWERED,
        passed=unanswered == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{unanswered} of {pairs} (product, county) pairs got no answer; see rejected_rows.",
        metadata={"pairs": pairs, "unanswered": unanswered},
    )


def coverage_check(pairs: int, covered: int, skipped: int) -> dg.AssetCheckResult:
    covered = min(covered, pairs)  # pairs recorded earlier today may have left the plan since
    share = covered / pairs if pairs else 1.0
    return dg.AssetCheckResult(
        check_name=COVERAGE,
        passed=covered >= pairs,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"Today's snapshot covers {covered} of {pairs} (product, county) pairs ({share:.0%}); "
        f"this run's call budget or deadline skipped {skipped} (asked first next time).",
        metadata={"pairs": pairs, "covered": covered, "skipped": skipped, "coverage": round(share, 4)},
    )


def rule_spec(rule: Rule, asset: dg.AssetKey) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(rule.name, asset=asset, description=rule.description, blocking=rule.blocking)


def rule_result(rule: Rule, rows: pd.DataFrame, reference: pd.DataFrame) -> dg.AssetCheckResult:
    outcome = rule.evaluate(rows, reference)
    return dg.AssetCheckResult(
        check_name=rule.name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR if rule.error else dg.AssetCheckSeverity.WARN,
        description=outcome.description,
        metadata={
            name: dg.MetadataValue.json(value) if isinstance(value, list | dict) else value
            for name, value in outcome.metadata.items()
        },
    )


def check_specs(endpoint: Endpoint, asset: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    """The endpoint's checks: its record's schema gate, the checks of its write disposition, its own rules, and its
    record's anomalies warning."""
    return [
        *([schema_gate_spec(asset)] if endpoint.record else []),
        *kept_by(endpoint.write, asset),
        *(rule_spec(rule, asset) for rule in endpoint.rules),
        *([field_anomalies_spec(asset)] if endpoint.record else []),
    ]


def kept_by(write: Write, asset: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    """The invariant a write disposition keeps: no more deactivated than allowed, one open version per key, every pair
    of the stock day asked and answered."""
    if isinstance(write, SoftDelete):
        return [deactivation_guard_spec(asset)]
    if isinstance(write, Versions):
        return [one_open_version_spec(asset)]
    if isinstance(write, StockDay):
        return stock_rule_specs(asset)
    return []
