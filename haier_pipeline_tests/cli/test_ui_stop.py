"""A real `make ui` / `haier-pipeline ui` (dg dev: webserver, daemon, code server) stops within 5 s of SIGTERM or
Ctrl-C, saying so, and leaves no process behind. Started as a script starts it in the background, where bash ignores
SIGINT: the UI handed that on to dg dev, and Dagster maps SIGTERM to what SIGINT does, so dg dev ignored both and
was killed only after a 20 s grace period (22 s in all, silently)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from haier_pipeline.cli import ui
from haier_pipeline.cli.ui import GRACE_SECONDS
from haier_pipeline_tests.ui.conftest import (
    REPO_ROOT,
    VENV_BIN,
    alive,
    descendants,
    free_port,
    log_tail,
    stop_process_group,
    wait_for_server,
    write_instance_config,
)

# What stopping may take beyond the grace period on a loaded machine: the supervisor notices the signal within 0.2 s,
# SIGKILL ends what is left at once. Before, it took 20 s and more.
MARGIN = 4.0


def test_the_grace_period_keeps_the_stop_within_5_s() -> None:
    assert GRACE_SECONDS + 0.5 <= 5


def test_a_killed_dg_dev_is_said_to_have_run_past_the_grace_period_as_it_is(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The 3.5 s grace was rounded: `stopped in 3.6 s (still running after 4 s: killed)`."""
    monkeypatch.setattr(ui, "GRACE_SECONDS", 0.5)  # rounded, it read "still running after 0 s"
    ignores_sigterm = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(flush=True); time.sleep(60)"
    )
    process = subprocess.Popen([sys.executable, "-c", ignores_sigterm], stdout=subprocess.PIPE, start_new_session=True)
    assert process.stdout is not None
    process.stdout.readline()  # SIGTERM is ignored from here on
    try:
        assert ui.stop(process, [signal.SIGTERM]) == -signal.SIGKILL
    finally:
        stop_process_group(process)
        process.stdout.close()
    said = capsys.readouterr().err
    took = re.search(r"haier-pipeline ui: stopped in (\d+\.\d) s \(still running after 0\.5 s: killed\)", said)
    assert took and float(took[1]) >= 0.5, said


@pytest.mark.parametrize(
    ("via", "sig"), [("make", signal.SIGTERM), ("haier-pipeline", signal.SIGINT), ("haier-pipeline", signal.SIGTERM)]
)
def test_the_ui_stops_within_5_s_of_sigterm_or_ctrl_c_saying_so(via: str, sig: signal.Signals, tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    write_instance_config(home)
    port = free_port()
    command = f"make ui PORT={port}" if via == "make" else f"{VENV_BIN / 'haier-pipeline'} ui --port {port}"
    pid_file, log_path = tmp_path / "pid", tmp_path / "ui.log"
    env = {name: value for name, value in os.environ.items() if not name.startswith("HAIER_")}
    env.update(DAGSTER_HOME=str(home), HAIER_WAREHOUSE_URL=f"duckdb:///{tmp_path}/warehouse.duckdb")
    with log_path.open("wb") as log:
        # A script's background job: bash (without job control) starts it with SIGINT ignored.
        shell = subprocess.Popen(
            ["bash", "-c", f"{command} & echo $! > {pid_file}; wait"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    tree: set[int] = set()
    try:
        wait_for_server(f"http://127.0.0.1:{port}", shell, log_path)
        tree = descendants(shell.pid)
        started = time.monotonic()
        os.kill(int(pid_file.read_text()), sig)  # to `make`, or to haier-pipeline ui (Ctrl-C reaches both)
        shell.wait(timeout=60)
        took = time.monotonic() - started
    finally:
        stop_process_group(shell)
        for pid in tree:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    said = log_tail(log_path, 200)
    assert took < GRACE_SECONDS + MARGIN, f"stopped after {took:.1f} s:\n{said}"
    assert f"haier-pipeline ui: {sig.name} received: stopping dg dev" in said, said
    assert "haier-pipeline ui: stopped in " in said, said
    assert not [pid for pid in tree if alive(pid)], "a process of the UI outlived it"
    if via == "make":
        # What the UI and its daemon wrote into DAGSTER_HOME, which `make ui` makes the project folder.
        written = sorted(entry.name for entry in home.iterdir() if entry.name != "dagster.yaml")
        assert {"logs", ".logs_queue"} <= set(written), written
        make_clean_removes(written, tmp_path / "project")


def make_clean_removes(written: list[str], project: Path) -> None:
    """In a copy of the project's tracked files: everything the UI, the daemon, a killed `dg dev` without
    DAGSTER_HOME and a sync write is ignored by git, and `make clean` removes it, and nothing tracked."""
    from dagster._cli.utils import TMP_DAGSTER_HOME_PREFIX

    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if (REPO_ROOT / name).is_file():
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            (project / name).write_bytes((REPO_ROOT / name).read_bytes())
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=project, check=True)
    subprocess.run([*git, "add", "-A"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "tracked"], cwd=project, check=True)
    made = [
        *written,
        Path(tempfile.mkdtemp(prefix=TMP_DAGSTER_HOME_PREFIX, dir=project)).name,  # as a killed dg dev leaves it
        "data/warehouse.duckdb",
        "data/warehouse.duckdb.wal",
        "data/warehouse.duckdb.lock",
        "data/dagster/storage/history",
        "test-artifacts/ui/page.png",
    ]
    for name in made:
        path = project / name
        if path.suffix or name.startswith("data/warehouse"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x")
        else:
            path.mkdir(parents=True, exist_ok=True)
            (path / "written").write_bytes(b"x")
    status = ["git", "status", "--porcelain", "--untracked-files=all"]
    assert subprocess.run(status, cwd=project, capture_output=True, text=True).stdout == "", "all ignored by git"
    subprocess.run(["make", "clean"], cwd=project, check=True, capture_output=True)
    left = subprocess.run([*status, "--ignored"], cwd=project, capture_output=True, text=True).stdout
    assert left == "", f"make clean left:\n{left}"
