"""The Haier dealer open-platform API client: knows HTTP, nothing of databases or Dagster assets."""

from haier_pipeline.errors import (
    HaierAnswerShapeError,
    HaierAuthenticationError,
    HaierBusinessError,
    HaierConfigurationError,
    HaierError,
    HaierRequestError,
    HaierThrottledError,
    HaierUnavailableError,
)
from haier_pipeline.haier.client import HaierClient

__all__ = [
    "HaierAnswerShapeError",
    "HaierAuthenticationError",
    "HaierBusinessError",
    "HaierClient",
    "HaierConfigurationError",
    "HaierError",
    "HaierRequestError",
    "HaierThrottledError",
    "HaierUnavailableError",
]
