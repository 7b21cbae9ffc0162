"""A CLI run whose process died holds its pool slots until the next `sync` marks it failed and frees them; with the
project's instance (`haier_api` limited to 1) the next sync's API step would otherwise wait for them forever."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import dagster as dg

from haier_pipeline.instance import HOST_TAG, PID_TAG, PROCESS_START_TAG, mark_dead_runs

PROJECT = Path(__file__).resolve().parents[2]


def project_instance_in(home: Path) -> dg.DagsterInstance:
    """The project's dagster.yaml (pools limited to 1) with its storage under `home`."""
    home.mkdir(parents=True, exist_ok=True)
    config = (PROJECT / "dagster.yaml").read_text(encoding="utf-8")
    (home / "dagster.yaml").write_text(config.replace("base_dir: data/", f"base_dir: {home}/data/"), encoding="utf-8")
    return dg.DagsterInstance.from_config(str(home))


def test_marking_a_dead_cli_run_failed_frees_its_pool_slot(tmp_path: Path) -> None:
    with project_instance_in(tmp_path / "home") as instance:
        # A run of a CLI process that is gone: its pid's start time is not the one recorded.
        tags = {HOST_TAG: socket.gethostname(), PID_TAG: "1", PROCESS_START_TAG: "not-the-start-of-pid-1"}
        dead = instance.add_run(
            dg.DagsterRun(
                job_name="__ASSET_JOB", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED, tags=tags
            )
        )
        storage = instance.event_log_storage
        assert storage.supports_global_concurrency_limits
        assert storage.initialize_concurrency_limit_to_default("haier_api"), "as a run's executor does first"
        assert storage.claim_concurrency_slot("haier_api", dead.run_id, "stock_snapshots").is_claimed
        waiting = str(uuid.uuid4())
        assert not storage.claim_concurrency_slot("haier_api", waiting, "stock_snapshots").is_claimed, "limit 1"

        assert mark_dead_runs(instance) == [dead.run_id]

        assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
        info = storage.get_concurrency_info("haier_api")
        assert [slot.run_id for slot in info.claimed_slots] != [dead.run_id]
        assert storage.claim_concurrency_slot("haier_api", waiting, "stock_snapshots").is_claimed
