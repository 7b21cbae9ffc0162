"""Two commands starting together on a fresh instance: Dagster creates a SQLite instance's databases, and stamps
their schema version, with no lock between processes (two syncs left runs.db with two versions, and every later
command failed with "more than one head"). Creating the instance waits for the other process."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from haier_pipeline.instance import load_instance

# Another process creating the instance: it holds the folder's lock until its stdin closes.
HOLD = (
    "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); fcntl.flock(fd, fcntl.LOCK_EX); "
    "print(1, flush=True); sys.stdin.read()"
)


def test_creating_the_instance_waits_while_another_process_creates_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(home)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline()  # it holds the folder's lock
    created: list[bool] = []

    def create() -> None:
        with load_instance(home) as instance:
            created.append(instance.get_runs() == [])

    creator = threading.Thread(target=create)
    creator.start()
    creator.join(1.0)
    try:
        assert creator.is_alive() and not created, "it waits for the process creating the instance"
    finally:
        assert holder.stdin is not None
        holder.stdin.close()  # the other process is done
        holder.wait(10)
    creator.join(60)
    assert created == [True]
