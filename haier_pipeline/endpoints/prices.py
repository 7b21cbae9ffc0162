"""Dealer prices (haier-api.md §2, price type PT): every active procurable product, 20 codes a call."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pandas as pd

from haier_pipeline.endpoints.declaration import (
    AccountField,
    Batch,
    Cron,
    Endpoint,
    FromWarehouse,
    Outcome,
    Request,
    Rule,
    Table,
    Upsert,
)
from haier_pipeline.endpoints.products import ACTIVE_PROCURABLE, DAILY, MORNING, PRODUCT_CODE_FIELD
from haier_pipeline.records import Field, Record, Role
from haier_pipeline.records.kinds import FLAG, FRACTION, MOMENT, PRICE, REBATE_TYPE, TEXT, has_cjk

KEY, MEASURE, DESCRIPTIVE = Role.KEY, Role.MEASURE, Role.DESCRIPTIVE

# Under stockRebatePolicy, text that starts with a letter (Latin or Chinese) is the rebate type code (COM, FHQ...);
# anything else ("0.05", "０．０５", "5折", "%") is the direct discount, read strictly: a measure is never moved aside
# as a side field.
STARTS_WITH_A_LETTER = re.compile(r"\s*[^\W\d_]")
DIGIT = re.compile(r"\d")


def _price_quirks(row: dict[str, Any]) -> dict[str, Any]:
    """stockRebatePolicy carries the direct discount, but the vendor files the rebate type code (COM, FHQ,
    BF, DTDBF) under that key too: a word there is the rebate type (descriptive: an unknown code, or one that
    disagrees with rebateType, is NULL and an anomaly; the price row is kept). A supply price sent as Chinese text
    without a digit (价格未生效) is a price not in effect; the text leads the reason, the vendor's own reason follows
    it. A number with a unit (1299元) is no such status: the price is refused as unreadable, never stored as "not in
    effect"."""
    row = dict(row)
    policy = row.get("stockRebatePolicy")
    if isinstance(policy, str) and STARTS_WITH_A_LETTER.match(policy):
        given = row.get("rebateType")
        # Two codes that disagree: neither is stored, both are recorded as the anomaly's raw value.
        disagree = given not in (None, "") and str(given).strip() != policy.strip()
        row["rebateType"] = {"rebateType": given, "stockRebatePolicy": policy} if disagree else given or policy.strip()
        row["stockRebatePolicy"] = None
    supply = row.get("supplyPrice")
    if has_cjk(supply) and not DIGIT.search(supply):
        reasons = (str(reason).strip() for reason in (supply, row.get("reason")) if reason is not None)
        row["reason"] = "; ".join(dict.fromkeys(reason for reason in reasons if reason))
        row.update(supplyPrice=None, invoicePrice=None, marketPrice=None)
    return row


def _price_rule(row: dict[str, Any], vendor_row: dict[str, Any]) -> str | None:
    """The supply price is missing only with the vendor's reason (价格未生效, 商品暂不可采) or on a row it marks not
    procurable (isSales "0"). A row with none of these is one
    whose keys were renamed (`supply_price`, `SupplyPrice`, nested): stored, it would replace the current price with
    NULL."""
    if row["supply_price"] is None and not row["reason"] and row["is_sales"] is not False:
        return "supply_price: is missing, and no reason says the price is not in effect (renamed fields?)"
    return None


FETCHED_AT = Field("fetched_at", MOMENT, DESCRIPTIVE, "When the pipeline received this answer (UTC).")

PRICE_ROW = Record(
    name="price row",
    endpoint="prices",
    key=("product_code",),
    quirks=_price_quirks,
    rule=_price_rule,
    fields=(
        PRODUCT_CODE_FIELD,
        Field(
            "supply_price", PRICE, MEASURE, "Ordinary supply price (普通供价); null when not in effect.", "supplyPrice"
        ),
        Field(
            "invoice_price",
            PRICE,
            MEASURE,
            "Invoice price (开票价) = supply price x (1 - direct discount) - rebate money.",
            "invoicePrice",
        ),
        Field("direct_discount", FRACTION, MEASURE, "Direct discount (直扣) as a fraction.", "stockRebatePolicy"),
        Field("rebate_type", REBATE_TYPE, DESCRIPTIVE, "Rebate type code: COM, FHQ, BF or DTDBF.", "rebateType"),
        Field("rebate_money", PRICE, MEASURE, "Per-unit rebate (台返).", "rebateMoney"),
        Field("market_price", PRICE, MEASURE, "Market (retail) price, when the vendor gives one.", "marketPrice"),
        Field("is_sales", FLAG, DESCRIPTIVE, "Procurable at this price.", "isSales"),
        Field(
            "reason", TEXT, DESCRIPTIVE, "商品暂不可采 (not procurable) or 价格未生效 (price not in effect).", "reason"
        ),
        FETCHED_AT,
    ),
)


def invoice_not_above_supply(rows: pd.DataFrame, reference: pd.DataFrame) -> Outcome:
    both = rows.dropna(subset=["supply_price", "invoice_price"])
    above = both[both["invoice_price"] > both["supply_price"]]
    return Outcome(
        passed=above.empty,
        description=f"{len(above)} of {len(both)} priced products have invoice_price > supply_price.",
        metadata={"violations": len(above), "examples": above["product_code"].head(10).tolist()},
    )


def price_jump(rows: pd.DataFrame, previous: pd.DataFrame) -> Outcome:
    merged = rows[["product_code", "supply_price"]].merge(
        previous[["product_code", "supply_price"]], on="product_code", suffixes=("", "_previous")
    )
    merged = merged.dropna(subset=["supply_price", "supply_price_previous"])
    jumps = [
        row.product_code
        for row in merged.itertuples(index=False)
        if row.supply_price_previous
        and abs(Decimal(row.supply_price) / Decimal(row.supply_price_previous) - 1) > Decimal("0.5")
    ]
    return Outcome(
        passed=not jumps,
        description=f"{len(jumps)} supply prices moved more than 50 % since the previous fetch.",
        metadata={"jumps": len(jumps), "examples": jumps[:10]},
    )


prices = Endpoint(
    name="prices",
    description="Dealer price (type PT) of every active procurable product, 20 codes a call over the client's "
    "pool and limiter; exact decimals; rows with a reason (not procurable, price not in effect) kept, flagged.",
    record=PRICE_ROW,
    request=Request(
        path="/yilihuo/jsh-service-goods-price/api/goods-price/price-daily-sales/price-query/pt-out-list-price",
        body={
            "customerCode": AccountField.CUSTOMER_CODE,
            "sendToCode": AccountField.SEND_TO_CODE,
            # The plain dealer price: no premium, special, engineering, sample or campaign prices.
            "priceType": "PT",
            "passWord": AccountField.PASSWORD,
        },
        batch=Batch(key="productCodes", column="product_code", size=20),
    ),
    items=FromWarehouse(ACTIVE_PROCURABLE, what="active procurable products"),
    # A product no longer listed or procurable has no current dealer price: its last one would pass for current.
    write=Upsert(withdraw_unasked=True),
    table=Table(comment="The current dealer price (type PT), one row per product.", key=("product_code",)),
    deps=("products",),
    cadence=Cron(MORNING, with_parents=True),
    freshness=DAILY,
    rules=(
        Rule(
            "invoice_not_above_supply",
            "The invoice price is never above the supply price (discounts only lower it).",
            invoice_not_above_supply,
            error=True,
        ),
        Rule(
            "price_jump_within_50_percent",
            "Warning when a supply price moves more than 50 % against the previous fetch.",
            price_jump,
            reference="SELECT product_code, supply_price FROM {schema}.prices WHERE account = :account",
        ),
    ),
)
