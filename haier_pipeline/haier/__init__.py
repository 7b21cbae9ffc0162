"""The Haier dealer open-platform API client: knows HTTP, nothing of databases or Dagster assets."""

from haier_pipeline.haier.client import HaierClient
from haier_pipeline.haier.errors import (
    HaierAnswerShapeError,
    HaierAuthenticationError,
    HaierBusinessError,
    HaierConfigurationError,
    HaierError,
    HaierRequestError,
    HaierThrottledError,
    HaierUnavailableError,
)
from haier_pipeline.haier.permission import HaierPermissionError

__all__ = [
    "HaierAnswerShapeError",
    "HaierAuthenticationError",
    "HaierBusinessError",
    "HaierClient",
    "HaierConfigurationError",
    "HaierError",
    "HaierPermissionError",
    "HaierRequestError",
    "HaierThrottledError",
    "HaierUnavailableError",
]
