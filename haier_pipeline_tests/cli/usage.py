"""What every command-line argument test checks first: a usage error, exit 2, argparse's `usage:` line, no
traceback."""

from __future__ import annotations

import pytest

from haier_pipeline.cli.main import main


def usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the command line; its stderr, once it proved to be a usage error of `argv`'s command."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: haier-pipeline {argv[0]}"), err
    assert "Traceback" not in err
    return err
