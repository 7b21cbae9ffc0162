"""One software-defined asset per warehouse table, all in one group."""

from haier_pipeline.assets.accounts import account_balances, logistics_events
from haier_pipeline.assets.catalog import catalog
from haier_pipeline.assets.prices import price_history, prices
from haier_pipeline.assets.products import products
from haier_pipeline.assets.stock import stock_snapshots

ALL_ASSETS = [products, prices, price_history, stock_snapshots, catalog, account_balances, logistics_events]

__all__ = [
    "ALL_ASSETS",
    "account_balances",
    "catalog",
    "logistics_events",
    "price_history",
    "prices",
    "products",
    "stock_snapshots",
]
