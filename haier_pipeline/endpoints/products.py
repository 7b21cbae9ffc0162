"""The procurable listing (haier-api.md §1): one call lists every procurable product of the account."""

from __future__ import annotations

from datetime import timedelta

from haier_pipeline.endpoints.declaration import (
    AccountField,
    Column,
    Cron,
    Endpoint,
    Freshness,
    Request,
    SoftDelete,
    Table,
    columns_of,
)
from haier_pipeline.records import Field, Record, Role
from haier_pipeline.records.kinds import FLAG, MOMENT, PRODUCT_CODE, TEXT, URL_LIST

KEY, MEASURE, DESCRIPTIVE = Role.KEY, Role.MEASURE, Role.DESCRIPTIVE

PRODUCT_CODE_FIELD = Field(
    "product_code", PRODUCT_CODE, KEY, "Haier's internal product code, e.g. GA0SZC00U.", "productCode", required=True
)

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

# The account's products listed, and procurable or not known not to be: a listing whose isSales could not be read
# (NULL, recorded as an anomaly) does not drop the product, the price and stock answers say what the vendor offers.
ACTIVE_PROCURABLE = (
    "SELECT product_code FROM {schema}.products WHERE account = :account AND is_active AND is_sales IS NOT FALSE "
    "ORDER BY product_code"
)

# A day late warns (a morning missed); two days fail. The UI says a day for anything from 22 to 35 hours, so the
# failure that used to come at 26 h (the morning run 2 h late) would read as a day, the same as the warning.
DAILY = Freshness(warn_after=timedelta(days=1), fail_after=timedelta(days=2))
MORNING = "30 6 * * *"  # products and prices, before the shop opens (Asia/Shanghai)

products = Endpoint(
    name="products",
    description="Every product code the account was ever offered. One listing call; duplicates collapse; a product "
    "missing from a listing with no refused rows becomes is_active = false (never deleted); first_seen_at / "
    "last_seen_at kept.",
    record=PRODUCT,
    request=Request(
        path="/yilihuo/jsh-service-goods-mall-search/api/product-info/procurable-products-out/check-procurable-products",
        body={
            "customerCode": AccountField.CUSTOMER_CODE,
            "sendToCode": AccountField.SEND_TO_CODE,
            "supplierCode": AccountField.SUPPLIER_CODE,
            # Goods supplied by Haier Smart Home, without sample and engineering models.
            "searchType": "PTJSH",
            "passWord": AccountField.PASSWORD,
        },
        everything="productCodes",
    ),
    write=SoftDelete(),
    table=Table(
        comment="One row per product code ever listed; never deleted.",
        key=("product_code",),
        columns=(
            *columns_of(PRODUCT),
            Column("is_active", FLAG, "In the newest listing; false once a clean listing left it out.", nullable=False),
            Column("first_seen_at", MOMENT, "When a listing first showed the product."),
            Column("last_seen_at", MOMENT, "When a listing last showed the product."),
        ),
    ),
    cadence=Cron(MORNING),
    freshness=DAILY,
)
