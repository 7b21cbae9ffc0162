"""pandera models of every raw frame, and the split of a frame into loadable and quarantined rows."""

from haier_pipeline.validation.models import BalancesRaw, LogisticsRaw, PricesRaw, ProductsRaw, StockRaw
from haier_pipeline.validation.quarantine import Split, split_valid

__all__ = ["BalancesRaw", "LogisticsRaw", "PricesRaw", "ProductsRaw", "Split", "StockRaw", "split_valid"]
