"""`haier-pipeline`: sync, check, query, simulator, demo, ui."""

from haier_pipeline.cli.main import main

__all__ = ["main"]
