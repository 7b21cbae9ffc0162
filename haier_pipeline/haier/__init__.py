"""The Haier dealer open-platform API client (`haier.client.HaierClient`): knows HTTP, nothing of databases or Dagster
assets. The typed errors it raises live in `haier_pipeline.errors`, below every layer; they are named here too."""

from haier_pipeline.errors import (
    HaierAnswerShapeError,
    HaierAuthenticationError,
    HaierBusinessError,
    HaierConfigurationError,
    HaierError,
    HaierPermissionError,
    HaierRequestError,
    HaierThrottledError,
    HaierUnavailableError,
)

__all__ = [
    "HaierAnswerShapeError",
    "HaierAuthenticationError",
    "HaierBusinessError",
    "HaierConfigurationError",
    "HaierError",
    "HaierPermissionError",
    "HaierRequestError",
    "HaierThrottledError",
    "HaierUnavailableError",
]
