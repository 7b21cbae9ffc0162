"""The Haier dealer open-platform API client: knows HTTP, nothing of databases or Dagster assets."""

from haier_pipeline.haier.client import HaierClient, Outcome
from haier_pipeline.haier.errors import (
    HaierAuthenticationError,
    HaierBusinessError,
    HaierConfigurationError,
    HaierError,
    HaierRequestError,
    HaierThrottledError,
)

__all__ = [
    "HaierAuthenticationError",
    "HaierBusinessError",
    "HaierClient",
    "HaierConfigurationError",
    "HaierError",
    "HaierRequestError",
    "HaierThrottledError",
    "Outcome",
]
