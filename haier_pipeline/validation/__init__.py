"""The blocking pandera gate of every parsed frame, derived from its record's declaration."""

from haier_pipeline.validation.gate import gate_schema, validate

__all__ = ["gate_schema", "validate"]
