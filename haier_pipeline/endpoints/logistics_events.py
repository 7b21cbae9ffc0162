"""Logistics of a tracked order (haier-api.md §4): one call per order of the orders file; the answer's three lists
hold undocumented objects, kept whole."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from haier_pipeline.endpoints.declaration import (
    AccountField,
    Cron,
    Endpoint,
    Freshness,
    FromOrdersFile,
    ReplaceItems,
    Request,
    Table,
)
from haier_pipeline.endpoints.prices import FETCHED_AT
from haier_pipeline.records import Field, Record, Role
from haier_pipeline.records.kinds import JSON, TEXT

KEY, MEASURE, DESCRIPTIVE = Role.KEY, Role.MEASURE, Role.DESCRIPTIVE


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

logistics_events = Endpoint(
    name="logistics_events",
    step="logistics",
    description="For each order in HAIER_ORDERS_FILE, its records from the three logistics lists, kept whole as "
    "JSON with the list's name. Re-fetching an order replaces its records.",
    record=LOGISTICS_RECORD,
    request=Request(
        path="/yilihuo/ylh-cloud-service-stock/api/page/stock/logistics/sass/"
        "get-thirdparty-logistics-info-by-order-code-auth",
        body={"sellerCode": AccountField.CUSTOMER_CODE, "sellerPassword": AccountField.SELLER_PASSWORD},
        item={"orderCode": "order_code", "deliveryRecordCode": "delivery_record_code", "memberId": "member_id"},
        lists=(
            "getAllLogisticsInfoByOrderCode",
            "getStockDeliveryLogisticsRecord",
            "getStockDeliveryLogisticsRecordThirdparty",
        ),
    ),
    items=FromOrdersFile(),
    write=ReplaceItems("order_code"),
    table=Table(
        comment="The logistics records of each tracked order, kept whole as JSON with the list's name.",
        # Every logistics run deletes the rows of the orders it answered.
        indexes={"ix_logistics_events_account_order_code": ("order_code",)},
    ),
    cadence=Cron("*/30 * * * *"),
    # Every 30 minutes: 40 minutes warns (a tick late), an hour fails (a tick missed). The UI said 45 minutes as an
    # hour, as the failure.
    freshness=Freshness(warn_after=timedelta(minutes=40), fail_after=timedelta(hours=1)),
)
