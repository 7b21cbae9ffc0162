"""The five vendor records, each field declared once: vendor key (typos included), warehouse column, kind
(with the column's range), role, and the description shown in the Dagster UI and as the column's COMMENT.

The parse, the pandera gate, the warehouse tables and the assets' column schemas all derive from here:
adding a vendor field is one line below (plus its test).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from haier_pipeline.records.kinds import (
    AMOUNT,
    COUNT,
    COUNTY_CODE,
    DAY,
    FLAG,
    JSON,
    MOMENT,
    PRICE,
    PRODUCT_CODE,
    REBATE_TYPE,
    TEXT,
    URL_LIST,
    WAREHOUSE_GRADE,
    DecimalKind,
    Invalid,
)
from haier_pipeline.records.record import QUIRK_NOTES, Field, Record, Role

KEY, MEASURE, DESCRIPTIVE = Role.KEY, Role.MEASURE, Role.DESCRIPTIVE

PRODUCT_CODE_FIELD = Field(
    "product_code", PRODUCT_CODE, KEY, "Haier's internal product code, e.g. GA0SZC00U.", "productCode", required=True
)
FETCHED_AT = Field("fetched_at", MOMENT, DESCRIPTIVE, "When the pipeline received this answer (UTC).")

PRODUCT = Record(
    name="product listing row",
    endpoint="products",
    key=("product_code",),
    fields=(
        PRODUCT_CODE_FIELD,
        Field("product_model", TEXT, DESCRIPTIVE, "Model, e.g. EC6001-HT3.", "productModel"),
        Field("product_group", TEXT, DESCRIPTIVE, "Product group, e.g. 电热水器.", "productGroupNamd"),
        Field("brand", TEXT, DESCRIPTIVE, "Brand, e.g. 海尔, 卡萨帝, 统帅.", "productBrandName"),
        Field("image_url", TEXT, DESCRIPTIVE, "Main product image URL.", "productImageUrl"),
        Field("leaflet_urls", URL_LIST, DESCRIPTIVE, "Leaflet / detail image URLs, a JSON list.", "productLageUrls"),
        # The old integration read a missing isSales as procurable; we do the same and record the anomaly.
        Field("is_sales", FLAG, DESCRIPTIVE, "Procurable by this account.", "isSales", when_missing="1"),
        Field("no_sales_reason", TEXT, DESCRIPTIVE, "Why not procurable, e.g. 产品未投放.", "noSalesReason"),
    ),
)


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


def is_not_in_effect_wording(value: Any) -> bool:
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

# An answer with no warehouse rows is stored as this one row: "checked, none" differs from "not checked".
NO_WAREHOUSE = {"stock": "0"}


def _stock_rule(row: dict[str, Any], vendor_row: dict[str, Any]) -> str | None:
    """Every warehouse row names its storage location: a row without one cannot be told from another (two such rows
    would both count), and one of stock 0 would pass for "checked, none", which only NO_WAREHOUSE stands for."""
    if row["sec_code"] is None and vendor_row is not NO_WAREHOUSE:
        return "sec_code: is missing"
    return None


STOCK_ROW = Record(
    name="stock warehouse row",
    endpoint="stock",
    key=("product_code", "county_code", "sec_code"),
    rule=_stock_rule,
    fields=(
        Field("snapshot_date", DAY, KEY, "The Asia/Shanghai day the stock was recorded.", required=True),
        Field("product_code", PRODUCT_CODE, KEY, "The product asked for.", required=True),
        Field("county_code", COUNTY_CODE, KEY, "The 6-digit county code asked for.", required=True),
        Field("sec_code", TEXT, KEY, "Storage location (库位) code; null when no warehouse serves.", "secCode"),
        Field("stock", COUNT, MEASURE, "Available quantity in this warehouse.", "stock", required=True),
        Field(
            "warehouse_grade",
            WAREHOUSE_GRADE,
            DESCRIPTIVE,
            '"0" local (本级仓), "1" upper level (上级仓).',
            "warehouseGrade",
        ),
        Field("cut_time", TEXT, DESCRIPTIVE, "Order cut-off time, e.g. 16:00.", "timelinessData.cutTime"),
        Field(
            "delivery_date",
            DAY,
            DESCRIPTIVE,
            "Estimated delivery date to the end customer.",
            "timelinessData.achieveUserOrderCut",
        ),
        Field("delivery_hours", COUNT, DESCRIPTIVE, "Delivery lead time in hours.", "timelinessData.hour"),
        Field("is_transfer", FLAG, DESCRIPTIVE, "Transshipped (isTranfer).", "timelinessData.isTranfer"),
        FETCHED_AT,
    ),
)

BALANCE_ROW = Record(
    name="balance row",
    endpoint="balance",
    key=("sale_group_code",),
    fields=(
        Field("fetched_at", MOMENT, KEY, "When the balance was fetched (UTC).", required=True),
        Field("sale_group_code", TEXT, KEY, "Sales organisation code.", "saleGroupCode", required=True),
        Field("sale_group_name", TEXT, DESCRIPTIVE, "Sales organisation name.", "saleGroupName"),
        Field("payer_account_code", TEXT, DESCRIPTIVE, "Payer account code.", "payerAccountCode"),
        Field("payer_account_name", TEXT, DESCRIPTIVE, "Payer account name.", "payerAccountName"),
        Field("balance", AMOUNT, MEASURE, "Payer account balance.", "payerAccountBalance", required=True),
    ),
)


def _whole_record(row: dict[str, Any]) -> dict[str, Any]:
    # The three lists' inner objects are undocumented: the record is the whole object.
    return {"record": row}


LOGISTICS_RECORD = Record(
    name="logistics record",
    endpoint="logistics",
    key=(),
    quirks=_whole_record,
    fields=(
        Field("order_code", TEXT, KEY, "The tracked order, from HAIER_ORDERS_FILE.", required=True),
        Field("source_list", TEXT, KEY, "The vendor list the record came from.", required=True),
        Field("record", JSON, DESCRIPTIVE, "The record as the vendor sent it (JSON text).", "record"),
        FETCHED_AT,
    ),
)

RECORDS = (PRODUCT, PRICE_ROW, STOCK_ROW, BALANCE_ROW, LOGISTICS_RECORD)
