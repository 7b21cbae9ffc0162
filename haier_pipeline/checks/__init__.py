"""Asset checks: a blocking schema gate per asset and one check per business rule."""
