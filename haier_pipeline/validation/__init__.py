"""The blocking pandera gate of every parsed frame, derived from its record's declaration."""

from haier_pipeline.validation.gate import gate, gate_schema, validate

__all__ = ["gate", "gate_schema", "validate"]
