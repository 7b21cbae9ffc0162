"""Dealer prices (haier-api.md §2, price type PT): every active procurable product, 20 codes a call."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeGuard

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
from haier_pipeline.records.kinds import FLAG, MOMENT, PRICE, REBATE_TYPE, TEXT, DecimalKind, Invalid
from haier_pipeline.records.record import QUIRK_NOTES, Field, Record, Role

KEY, MEASURE, DESCRIPTIVE = Role.KEY, Role.MEASURE, Role.DESCRIPTIVE

# Under stockRebatePolicy, text that starts with a letter (Latin or Chinese) is the rebate type code (COM, FHQ...);
# anything else ("0.05", "０．０５", "5折", "%") is the direct discount, read strictly: a measure is never moved aside
# as a side field.
STARTS_WITH_A_LETTER = re.compile(r"\s*[^\W\d_]")

# The only supply prices that mean "not in effect" (contract: a declared not-in-effect wording): the vendor's two
# reasons (haier-api.md §2) and the wordings of the same statuses its gateways are known to use. Compared whole, without
# surrounding spaces and end punctuation. Any other text, a price in Chinese numerals (一千二百九十九元) or with a unit
# (1299元) included, is an unreadable price: the row is refused, and the product's last good price stays current.
NOT_IN_EFFECT_WORDINGS = frozenset(
    {
        "价格未生效",  # price not in effect (haier-api.md §2)
        "商品暂不可采",  # not procurable for now (haier-api.md §2)
        "暂不可采",  # not procurable for now, without "goods"
        "不可采",  # not procurable
        "未生效",  # not in effect
        "价格未维护",  # no price maintained
        "暂无价格",  # no price for now
        "无有效价格",  # no price in effect
    }
)
WORDING_EDGES = " \t\u3000。.!！"

# A direct discount written as a percentage ("5%", "5 ％"): read as the fraction it means (0.05), with an anomaly.
PERCENTAGE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*[%％]\s*")


def is_not_in_effect_wording(value: Any) -> TypeGuard[str]:
    """Whether a supply price is one of the declared not-in-effect wordings."""
    return isinstance(value, str) and value.strip(WORDING_EDGES) in NOT_IN_EFFECT_WORDINGS


@dataclass(frozen=True)
class DiscountKind(DecimalKind):
    """The direct discount: a fraction from 0 to 1. A bare number above 1 (5) could be 5 % or a typo: refused, saying
    so, never guessed."""

    def read(self, value: Any) -> Decimal | None:
        try:
            return super().read(value)
        except Invalid as why:
            if self.maximum is not None and str(why) == f"is above {self.maximum}":
                raise Invalid(
                    "is above 1: the direct discount is a fraction (0.05 for 5 %), and a bare number above 1 is "
                    'ambiguous (a percentage? a typo?); ask the vendor to send a fraction, or "5%"',
                    why.value,
                ) from None
            raise


DISCOUNT = DiscountKind("fraction", 12, 6, minimum=Decimal(0), maximum=Decimal(1))


def _price_quirks(row: dict[str, Any]) -> dict[str, Any]:
    """stockRebatePolicy carries the direct discount, but the vendor files the rebate type code (COM, FHQ,
    BF, DTDBF) under that key too: a word there is the rebate type (descriptive: an unknown code, or one that
    disagrees with rebateType, is NULL and an anomaly; the price row is kept). A discount written as a percentage is
    read as its fraction, noted as an anomaly. A supply price sent as a declared not-in-effect wording
    (NOT_IN_EFFECT_WORDINGS) is a price not in effect; the text leads the reason, the vendor's own reason follows it.
    Any other text is left to the supply price's kind, which refuses it."""
    row = dict(row)
    policy = row.get("stockRebatePolicy")
    if isinstance(policy, str) and STARTS_WITH_A_LETTER.match(policy):
        given = row.get("rebateType")
        # Two codes that disagree: neither is stored, both are recorded as the anomaly's raw value.
        disagree = given not in (None, "") and str(given).strip() != policy.strip()
        row["rebateType"] = {"rebateType": given, "stockRebatePolicy": policy} if disagree else given or policy.strip()
        row["stockRebatePolicy"] = None
    elif isinstance(policy, str) and (percentage := PERCENTAGE.fullmatch(policy)):
        fraction = Decimal(percentage.group(1)) / 100
        row["stockRebatePolicy"] = fraction
        row[QUIRK_NOTES] = [("direct_discount", policy, f"a percentage, read as the fraction {fraction.normalize():f}")]
    supply = row.get("supplyPrice")
    if is_not_in_effect_wording(supply):
        reasons = (
            str(reason).strip() for reason in (supply.strip(WORDING_EDGES), row.get("reason")) if reason is not None
        )
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
        Field("direct_discount", DISCOUNT, MEASURE, "Direct discount (直扣) as a fraction.", "stockRebatePolicy"),
        Field("rebate_type", REBATE_TYPE, DESCRIPTIVE, "Rebate type code: COM, FHQ, BF or DTDBF.", "rebateType"),
        Field("rebate_money", PRICE, MEASURE, "Per-unit rebate (台返).", "rebateMoney"),
        # Descriptive: no stored number is computed from it (the catalog's sale price falls back to the supply price).
        Field("market_price", PRICE, DESCRIPTIVE, "Market (retail) price, when the vendor gives one.", "marketPrice"),
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
