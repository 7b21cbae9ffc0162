"""The production topology as local processes, for the deploy tests: the instance of deploy/dagster.yaml in a fresh
Postgres database, and the Dagster processes (code server, daemon, webserver) started, awaited and stopped as the
containers of deploy/docker-compose.yaml would be."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import psycopg
import pytest
import requests
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from haier_pipeline_tests.postgres import POSTGRES_URL, require_postgres

PROJECT = Path(__file__).resolve().parents[2]
DEPLOY = PROJECT / "deploy"
DEPLOY_YAML = DEPLOY / "dagster.yaml"
DEPLOY_WORKSPACE = DEPLOY / "workspace.yaml"
LOCAL_YAML = PROJECT / "dagster.yaml"
# This tree's own venv: the processes import this tree's code.
BIN = Path(sys.executable).parent


def database_url(database: str) -> str:
    """HAIER_TEST_POSTGRES_URL with its database swapped (a plain postgresql:// URL: psycopg, the warehouse)."""
    return urlsplit(POSTGRES_URL)._replace(path=f"/{database}").geturl()


@dataclass
class DeployedInstance:
    home: Path
    database: str
    # DAGSTER_HOME and the DAGSTER_PG_* / DAGSTER_*_DIR variables deploy/dagster.yaml reads.
    env: dict[str, str]

    def load(self) -> dg.DagsterInstance:
        """What the webserver, daemon and run workers each do: read $DAGSTER_HOME/dagster.yaml."""
        return dg.DagsterInstance.from_config(str(self.home))


@contextmanager
def deployed_instance(
    tmp_path_factory: pytest.TempPathFactory, instance_yaml: Path = DEPLOY_YAML
) -> Iterator[DeployedInstance]:
    """`instance_yaml`, unchanged, as the dagster.yaml of a temp DAGSTER_HOME; its variables point at a fresh
    database (dropped afterwards, whatever connected to it) and a temp folder standing in for the shared volume."""
    require_postgres()
    database = f"haier_instance_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    try:
        home = tmp_path_factory.mktemp("dagster_home")
        shutil.copy(instance_yaml, home / "dagster.yaml")
        shared = tmp_path_factory.mktemp("shared_volume")
        params = conninfo_to_dict(POSTGRES_URL)
        env = {
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_HOST": str(params.get("host") or "127.0.0.1"),
            "DAGSTER_PG_PORT": str(params.get("port") or 5432),
            "DAGSTER_PG_USER": str(params.get("user") or "postgres"),
            "DAGSTER_PG_PASSWORD": str(params.get("password") or ""),
            "DAGSTER_PG_DB": database,
            "DAGSTER_ARTIFACT_DIR": str(shared / "artifacts"),
            "DAGSTER_COMPUTE_LOG_DIR": str(shared / "logs"),
        }
        yield DeployedInstance(home=home, database=database, env=env)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))


def process_env(deployed: DeployedInstance, **extra: str) -> dict[str, str]:
    """The environment of a deployed process: this one's, without the developer's own HAIER_* (a real API, a DuckDB
    file), which must not leak into the processes under test, plus the instance's variables and `extra`."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("HAIER_")}
    return {**inherited, **deployed.env, **extra}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(command: list[str], env: Mapping[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        # Own session: stopped below by its process group, the code server's run workers included.
        return subprocess.Popen(
            command, env=dict(env), cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def stop_all(processes: Sequence[subprocess.Popen], grace: float = 5) -> None:
    """`stop` for several at once: each gets SIGTERM, then the survivors SIGKILL after one shared grace period."""
    running = [process for process in processes if process.poll() is None]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
        deadline = time.monotonic() + grace
        for process in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.0, deadline - time.monotonic()))
        running = [process for process in running if process.poll() is None]
        if not running:
            return


def graphql(url: str, query: str, variables: Mapping[str, object] | None = None) -> dict:
    """One GraphQL request to the webserver, as the UI sends it; its `data`, or a failure naming the errors."""
    answer = requests.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60)
    answer.raise_for_status()
    body = answer.json()
    assert not body.get("errors"), body["errors"]
    return body["data"]


def tails(logs: Mapping[str, Path], chars: int = 3000) -> str:
    """The end of each process's log, for a failure message."""
    return "\n".join(f"--- {name}\n{path.read_text(errors='replace')[-chars:]}" for name, path in logs.items())


def wait_for_code_server(port: int, code_server: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    from dagster._grpc.client import DagsterGrpcClient  # what `dagster api grpc-health-check` uses

    client = DagsterGrpcClient(port=port, host="127.0.0.1")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert code_server.poll() is None, f"code server exited:\n{log.read_text()[-3000:]}"
        try:
            client.ping("up")
            return
        except Exception:
            time.sleep(0.25)
    pytest.fail(f"code server not up after {timeout:g} s:\n{log.read_text()[-3000:]}")


def wait_for_webserver(url: str, webserver: subprocess.Popen, log: Path, timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert webserver.poll() is None, f"webserver exited:\n{log.read_text()[-3000:]}"
        try:
            if requests.get(f"{url}/server_info", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.25)
    pytest.fail(f"webserver not up after {timeout:g} s:\n{log.read_text()[-3000:]}")
