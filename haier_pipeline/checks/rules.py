"""Each rule is a function from frames to one AssetCheckResult; the asset yields them with its data."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, MetadataValue

from haier_pipeline.validation import Split

SCHEMA_GATE = "schema_gate"


def schema_gate_spec(asset: str) -> AssetCheckSpec:
    return AssetCheckSpec(
        SCHEMA_GATE,
        asset=asset,
        blocking=True,
        description="Blocking: the raw frame has the expected structure and at most HAIER_MAX_REJECTED_RATIO of "
        "its rows were quarantined to rejected_rows. When it fails nothing is written and nothing downstream runs.",
    )


def schema_gate(split: Split, max_rejected_ratio: float, refused: int = 0) -> AssetCheckResult:
    """`refused` counts items that never became rows (requests that failed after every retry)."""
    total = split.total + refused
    rejected = len(split.rejected) + refused
    share = rejected / total if total else 0.0
    too_many = share > max_rejected_ratio
    passed = not split.structural_errors and not too_many
    if split.structural_errors:
        description = "The answer's structure is wrong: " + "; ".join(split.structural_errors)
    elif too_many:
        description = (
            f"{rejected} of {total} rows ({share:.0%}) were refused, more than the allowed "
            f"{max_rejected_ratio:.0%} (HAIER_MAX_REJECTED_RATIO); see rejected_rows for the reasons."
        )
    else:
        description = f"{rejected} of {total} rows quarantined."
    return AssetCheckResult(
        check_name=SCHEMA_GATE,
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        description=description,
        metadata={
            "rows": total,
            "rows_rejected": rejected,
            "rejected_share": round(share, 4),
            "failures_by_rule": MetadataValue.json(dict(split.rule_failures)),
        },
    )


DEACTIVATION_GUARD = "deactivation_guard"


def deactivation_guard_spec() -> AssetCheckSpec:
    return AssetCheckSpec(
        DEACTIVATION_GUARD,
        asset="products",
        blocking=True,
        description="Blocking: one listing may deactivate at most HAIER_MAX_DEACTIVATE_RATIO of the active "
        "products (an empty listing included); past it nothing changes.",
    )


def deactivation_guard(active_before: int, would_deactivate: int, max_ratio: float) -> AssetCheckResult:
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
    return AssetCheckResult(
        check_name=DEACTIVATION_GUARD,
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        description=description,
        metadata={
            "active_before": active_before,
            "would_deactivate": would_deactivate,
            "share": round(share, 4),
        },
    )


INVOICE_NOT_ABOVE_SUPPLY = "invoice_not_above_supply"
PRICE_JUMP = "price_jump_within_50_percent"


def price_rule_specs() -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(
            INVOICE_NOT_ABOVE_SUPPLY,
            asset="prices",
            description="The invoice price is never above the supply price (discounts only lower it).",
        ),
        AssetCheckSpec(
            PRICE_JUMP,
            asset="prices",
            description="Warning when a supply price moves more than 50 % against the previous fetch.",
        ),
    ]


def invoice_not_above_supply(prices: pd.DataFrame) -> AssetCheckResult:
    both = prices.dropna(subset=["supply_price", "invoice_price"])
    above = both[both["invoice_price"] > both["supply_price"]]
    return AssetCheckResult(
        check_name=INVOICE_NOT_ABOVE_SUPPLY,
        passed=above.empty,
        severity=AssetCheckSeverity.ERROR,
        description=f"{len(above)} of {len(both)} priced products have invoice_price > supply_price.",
        metadata={
            "violations": len(above),
            "examples": MetadataValue.json(above["product_code"].head(10).tolist()),
        },
    )


def price_jump(prices: pd.DataFrame, previous: pd.DataFrame) -> AssetCheckResult:
    merged = prices.merge(previous, on="product_code", suffixes=("", "_previous"))
    merged = merged.dropna(subset=["supply_price", "supply_price_previous"])
    jumps = [
        row.product_code
        for row in merged.itertuples(index=False)
        if row.supply_price_previous
        and abs(Decimal(row.supply_price) / Decimal(row.supply_price_previous) - 1) > Decimal("0.5")
    ]
    return AssetCheckResult(
        check_name=PRICE_JUMP,
        passed=not jumps,
        severity=AssetCheckSeverity.WARN,
        description=f"{len(jumps)} supply prices moved more than 50 % since the previous fetch.",
        metadata={"jumps": len(jumps), "examples": MetadataValue.json(jumps[:10])},
    )


ONE_OPEN_VERSION = "one_open_version_per_product"


def one_open_version_spec() -> AssetCheckSpec:
    return AssetCheckSpec(
        ONE_OPEN_VERSION,
        asset="price_history",
        description="Every product with a price has exactly one open version (valid_to is null).",
    )


def one_open_version(open_versions: pd.DataFrame) -> AssetCheckResult:
    duplicated = open_versions[open_versions["open_versions"] != 1]
    return AssetCheckResult(
        check_name=ONE_OPEN_VERSION,
        passed=duplicated.empty,
        severity=AssetCheckSeverity.ERROR,
        description=f"{len(duplicated)} products have other than one open price version.",
        metadata={"violations": len(duplicated)},
    )


STOCK_NON_NEGATIVE = "stock_non_negative"
EVERY_PAIR_ANSWERED = "every_pair_answered"


def stock_rule_specs() -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(STOCK_NON_NEGATIVE, asset="stock_snapshots", description="No warehouse reports stock < 0."),
        AssetCheckSpec(
            EVERY_PAIR_ANSWERED,
            asset="stock_snapshots",
            description="Warning when some (product, county) pairs got no answer after every retry.",
        ),
    ]


def stock_non_negative(stock: pd.DataFrame) -> AssetCheckResult:
    negative = stock[stock["stock"] < 0] if not stock.empty else stock
    return AssetCheckResult(
        check_name=STOCK_NON_NEGATIVE,
        passed=negative.empty,
        severity=AssetCheckSeverity.ERROR,
        description=f"{len(negative)} warehouse rows report negative stock.",
        metadata={"violations": len(negative)},
    )


def every_pair_answered(pairs: int, unanswered: int) -> AssetCheckResult:
    return AssetCheckResult(
        check_name=EVERY_PAIR_ANSWERED,
        passed=unanswered == 0,
        severity=AssetCheckSeverity.WARN,
        description=f"{unanswered} of {pairs} (product, county) pairs got no answer; see rejected_rows.",
        metadata={"pairs": pairs, "unanswered": unanswered},
    )


CATALOG_COVERS_ACTIVE = "covers_every_active_product"


def catalog_covers_spec() -> AssetCheckSpec:
    return AssetCheckSpec(
        CATALOG_COVERS_ACTIVE, asset="catalog", description="The catalog has one row per active product."
    )


def catalog_covers(active: int, catalog_rows: int, missing: list[str]) -> AssetCheckResult:
    return AssetCheckResult(
        check_name=CATALOG_COVERS_ACTIVE,
        passed=not missing and catalog_rows == active,
        severity=AssetCheckSeverity.ERROR,
        description=f"{catalog_rows} catalog rows for {active} active products; {len(missing)} missing.",
        metadata={
            "active_products": active,
            "catalog_rows": catalog_rows,
            "missing": MetadataValue.json(missing[:10]),
        },
    )
