"""Each rule is a function from frames to one dg.AssetCheckResult; the asset yields them with its data."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import dagster as dg
import pandas as pd

SCHEMA_GATE = "schema_gate"
FIELD_ANOMALIES = "field_anomalies"
SAMPLE_PAYLOAD_CHARS = 500


def schema_gate_spec(asset: str) -> dg.AssetCheckSpec:
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


def field_anomalies_spec(asset: str) -> dg.AssetCheckSpec:
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


def deactivation_guard_spec() -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        DEACTIVATION_GUARD,
        asset="products",
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


INVOICE_NOT_ABOVE_SUPPLY = "invoice_not_above_supply"
PRICE_JUMP = "price_jump_within_50_percent"


def price_rule_specs() -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            INVOICE_NOT_ABOVE_SUPPLY,
            asset="prices",
            description="The invoice price is never above the supply price (discounts only lower it).",
        ),
        dg.AssetCheckSpec(
            PRICE_JUMP,
            asset="prices",
            description="Warning when a supply price moves more than 50 % against the previous fetch.",
        ),
    ]


def invoice_not_above_supply(prices: pd.DataFrame) -> dg.AssetCheckResult:
    both = prices.dropna(subset=["supply_price", "invoice_price"])
    above = both[both["invoice_price"] > both["supply_price"]]
    return dg.AssetCheckResult(
        check_name=INVOICE_NOT_ABOVE_SUPPLY,
        passed=above.empty,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{len(above)} of {len(both)} priced products have invoice_price > supply_price.",
        metadata={
            "violations": len(above),
            "examples": dg.MetadataValue.json(above["product_code"].head(10).tolist()),
        },
    )


def price_jump(prices: pd.DataFrame, previous: pd.DataFrame) -> dg.AssetCheckResult:
    merged = prices.merge(previous, on="product_code", suffixes=("", "_previous"))
    merged = merged.dropna(subset=["supply_price", "supply_price_previous"])
    jumps = [
        row.product_code
        for row in merged.itertuples(index=False)
        if row.supply_price_previous
        and abs(Decimal(row.supply_price) / Decimal(row.supply_price_previous) - 1) > Decimal("0.5")
    ]
    return dg.AssetCheckResult(
        check_name=PRICE_JUMP,
        passed=not jumps,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{len(jumps)} supply prices moved more than 50 % since the previous fetch.",
        metadata={"jumps": len(jumps), "examples": dg.MetadataValue.json(jumps[:10])},
    )


ONE_OPEN_VERSION = "one_open_version_per_product"


def one_open_version_spec() -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        ONE_OPEN_VERSION,
        asset="price_history",
        description="Every product with a price has exactly one open version (valid_to is null).",
    )


def one_open_version(open_versions: pd.DataFrame) -> dg.AssetCheckResult:
    duplicated = open_versions[open_versions["open_versions"] != 1]
    return dg.AssetCheckResult(
        check_name=ONE_OPEN_VERSION,
        passed=duplicated.empty,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{len(duplicated)} products have other than one open price version.",
        metadata={"violations": len(duplicated)},
    )


EVERY_PAIR_ANSWERED = "every_pair_answered"


COVERAGE = "coverage"


def stock_rule_specs() -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            COVERAGE,
            asset="stock_snapshots",
            description="Warning when today's snapshot covers less than every (product, county) pair: a call budget "
            "or deadline skipped some (asked first next time), or some went unanswered.",
        ),
        dg.AssetCheckSpec(
            EVERY_PAIR_ANSWERED,
            asset="stock_snapshots",
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


CATALOG_COVERS_ACTIVE = "covers_every_active_product"


def catalog_covers_spec() -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        CATALOG_COVERS_ACTIVE, asset="catalog", description="The catalog has one row per active product."
    )


def catalog_covers(active: int, catalog_rows: int, missing: list[str]) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=CATALOG_COVERS_ACTIVE,
        passed=not missing and catalog_rows == active,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{catalog_rows} catalog rows for {active} active products; {len(missing)} missing.",
        metadata={
            "active_products": active,
            "catalog_rows": catalog_rows,
            "missing": dg.MetadataValue.json(missing[:10]),
        },
    )
