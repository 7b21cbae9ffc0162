"""`python -m haier_pipeline.cli`: the console script, for the processes `sync` starts per account."""

import sys

from haier_pipeline.cli import console

sys.exit(console())
