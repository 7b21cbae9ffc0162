"""Price versions: no call of its own, a type-2 slowly changing dimension of `prices`."""

from __future__ import annotations

from haier_pipeline.endpoints.declaration import AfterParents, Column, Endpoint, Pool, Table, Versions, columns_of
from haier_pipeline.endpoints.prices import PRICE_ROW
from haier_pipeline.endpoints.products import DAILY
from haier_pipeline.records.kinds import MOMENT

# The price columns whose change opens a new version.
TRACKED = ("supply_price", "invoice_price", "direct_discount", "rebate_type", "rebate_money", "is_sales")

price_history = Endpoint(
    name="price_history",
    step="prices",
    description="Slowly changing dimension (type 2) of prices: a new version when supply price, invoice price, "
    "direct discount, rebate type, rebate or procurability changes; the open version has valid_to null. No API calls.",
    write=Versions(source="prices", tracked=TRACKED),
    table=Table(
        comment="Price versions (SCD2): a new version when a tracked price column changes.",
        key=("product_code", "valid_from"),
        columns=(
            *columns_of(PRICE_ROW, "product_code", *TRACKED),
            Column("valid_from", MOMENT, "When this version was first observed.", nullable=False),
            Column("valid_to", MOMENT, "When a changed price replaced it; null for the current version."),
        ),
    ),
    deps=("prices",),
    pool=Pool.WAREHOUSE,
    cadence=AfterParents(),
    freshness=DAILY,
)
