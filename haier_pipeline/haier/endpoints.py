"""The vendor's paths and fixed body values (haier-api.md), in one place."""

from __future__ import annotations

from typing import Final

MAX_CODES_PER_CALL: Final = 20
SEARCH_TYPE: Final = "PTJSH"
PRICE_TYPE: Final = "PT"
STOCK_SOURCE: Final = "JSH-B"

PRODUCTS: Final = (
    "/yilihuo/jsh-service-goods-mall-search/api/product-info/procurable-products-out/check-procurable-products"
)
PRICES: Final = "/yilihuo/jsh-service-goods-price/api/goods-price/price-daily-sales/price-query/pt-out-list-price"
STOCK: Final = "/yilihuo/jsh-service-stock-mall/api/page/stock/get-available-stock-open"
LOGISTICS: Final = (
    "/yilihuo/ylh-cloud-service-stock/api/page/stock/logistics/sass/get-thirdparty-logistics-info-by-order-code-auth"
)
BALANCE: Final = (
    "/yilihuo/jsh-service-finance-mall/api/page/account/account-balance-manager/"
    "get-payer-account-balance-by-customer-code"
)
LOGISTICS_LISTS: Final = (
    "getAllLogisticsInfoByOrderCode",
    "getStockDeliveryLogisticsRecord",
    "getStockDeliveryLogisticsRecordThirdparty",
)


def batches(codes: list[str], size: int = MAX_CODES_PER_CALL) -> list[list[str]]:
    """Split any number of codes into calls of at most `size`; nothing is ever truncated."""
    return [codes[start : start + size] for start in range(0, len(codes), size)]
