"""How a vendor record is declared (`Field`, `Record`) and read in one total pass; the records themselves are declared
with their endpoints (`haier_pipeline.endpoints`)."""

from haier_pipeline.records.record import Anomaly, Field, Parsed, Record, Refusal, Role, UnusableAnswer

__all__ = ["Anomaly", "Field", "Parsed", "Record", "Refusal", "Role", "UnusableAnswer"]
