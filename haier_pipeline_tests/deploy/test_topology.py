"""The deployment of deploy/ as processes (this machine runs no containers): the instance of deploy/dagster.yaml in a
fresh Postgres database, a gRPC code server, the webserver and the daemon (QueuedRunCoordinator, default launcher),
sharing nothing but Postgres and gRPC, with three accounts of an accounts file against three simulators and the
warehouse in Postgres. Five runs are submitted through the webserver's GraphQL API, as the UI submits them:

    A  north products+prices, tagged haier/account=north   (as the automation tags its runs)
    C  north price_history, tagged                         (another run of north the automation queued)
    S  south products+prices, tagged
    W  west products+prices, tagged
    B  north products+prices, no tag                       (as a run started from the UI)

Every account's products call is held at its simulator until the instance shows A's, S's and W's products steps all
started; then the calls are answered. What the instance recorded then shows:
  (a) the accounts run side by side: the three products steps were in progress at one moment;
  (b) one account's API steps never overlap: every `haier_api_north` step of A and B is disjoint from the others,
      while A held the pool's one slot, B had started none (whether the daemon kept it queued or its step waited);
  (c) the run limit per account: C stayed queued, its own pool free, while the runs queued after it were launched.
Nothing depends on the machine's speed: the holds make the overlap certain when the deployment is right, and a
deployment that ran accounts one after the other, or two API steps of one account at once, fails an assertion (or,
when the accounts never run side by side, the wait for their three started steps)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from haier_pipeline.accounts import account_key
from haier_pipeline.defs.haier_catalog.assets import API_POOL, WAREHOUSE_POOL, pool_of
from haier_pipeline.defs.outcomes import ACCOUNT_TAG, asset_of
from haier_pipeline.endpoints import endpoint
from haier_pipeline.simulator import RunningSimulator, start_simulator
from haier_pipeline_tests.deploy.processes import (
    BIN,
    DEPLOY_WORKSPACE,
    DeployedInstance,
    database_url,
    deployed_instance,
    free_port,
    graphql,
    process_env,
    start,
    stop_all,
    tails,
    wait_for_code_server,
    wait_for_webserver,
)
from haier_pipeline_tests.simulated import SIMULATOR_CREDENTIALS, simulator_config

ACCOUNTS = ("north", "south", "west")
SELECTION = ("products", "prices")
REPOSITORY = {"repositoryLocationName": "haier_pipeline", "repositoryName": "__repository__"}
# How long any one wait may take before the test gives up naming what it waited for. Four run workers start at once
# (each imports Dagster and loads three accounts' definitions, about 4 s of CPU): alone on two cores that takes about
# 10 s, but on a two-core machine shared with other test suites it was measured at 60 s.
PATIENCE = 180.0


@dataclass(frozen=True)
class Interval:
    start: float
    end: float

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end


@dataclass
class Topology:
    deployed: DeployedInstance
    simulators: dict[str, RunningSimulator]
    webserver_url: str
    logs: dict[str, Path]


def accounts_file(path: Path, simulators: Mapping[str, RunningSimulator]) -> Path:
    """Each account its own gateway and customer; the secrets stay in the environment."""
    lines = ["[defaults]", 'counties = ["110101", "310104"]', ""]
    for name, sim in simulators.items():
        lines += [f"[account.{name}]", f'base_url = "{sim.base_url}"', f'customer_code = "{sim.config.customer_code}"']
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def stop_automation(url: str) -> None:
    """Stop every account's automation sensor (on by default) before the daemon starts, as an operator would in the
    UI: its ticks would queue runs of their own beside the test's (price_history and catalog follow prices)."""
    sensors = graphql(
        url,
        """query($selector: RepositorySelector!) { sensorsOrError(repositorySelector: $selector) {
            ... on Sensors { results { name sensorState { id } } } } }""",
        {"selector": REPOSITORY},
    )["sensorsOrError"]["results"]
    automation = {account_key("haier_automation_sensor", name) for name in ACCOUNTS}
    found = {sensor["name"]: sensor["sensorState"]["id"] for sensor in sensors if sensor["name"] in automation}
    assert set(found) == automation, sensors
    for state_id in found.values():
        stopped = graphql(
            url,
            """mutation($id: String) { stopSensor(id: $id) {
                ... on StopSensorMutationResult { instigationState { status } }
                ... on PythonError { message } } }""",
            {"id": state_id},
        )["stopSensor"]
        assert stopped.get("instigationState", {}).get("status") == "STOPPED", stopped


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    with deployed_instance(tmp_path_factory) as deployed, ExitStack() as stack:
        work = tmp_path_factory.mktemp("topology")
        simulators = {}
        for number, name in enumerate(ACCOUNTS, start=1):
            customer = f"880000000{number}"
            config = simulator_config(
                products=20,
                client_secret=f"{name}-secret",
                customer_code=customer,
                send_to_code=customer,
                held_endpoints=("products",),
            )
            simulators[name] = stack.enter_context(start_simulator(config))
        code_port, web_port = free_port(), free_port()
        # The webserver and the daemon reach the code over gRPC and the instance through Postgres: they get the
        # DAGSTER_* variables only. The code server (and the run workers it starts) get the HAIER_* ones.
        dagster_env = process_env(
            deployed, DAGSTER_CODE_SERVER_HOST="127.0.0.1", DAGSTER_CODE_SERVER_PORT=str(code_port)
        )
        code_env = {
            **dagster_env,
            "HAIER_ACCOUNTS_FILE": str(accounts_file(work / "accounts.toml", simulators)),
            # Shared by the accounts (the unprefixed fallback) ...
            "HAIER_CLIENT_ID": SIMULATOR_CREDENTIALS["client_id"],
            "HAIER_PASSWORD": SIMULATOR_CREDENTIALS["password"],
            # ... and one secret per account, read by the run workers through the code location's EnvVars.
            **{f"HAIER_{name.upper()}_CLIENT_SECRET": f"{name}-secret" for name in ACCOUNTS},
            # Schema `haier` of the throwaway instance database, dropped with it: several processes write it.
            "HAIER_WAREHOUSE_URL": database_url(deployed.database),
            # A held call must outlast the test's own patience, not be abandoned and retried.
            "HAIER_TIMEOUT": "300",
        }
        logs = {name: work / f"{name}.log" for name in ("code_server", "webserver", "daemon")}
        processes: list[subprocess.Popen] = []
        # Run workers are done by then; the daemon takes 6 s and the code server 4 s to stop on SIGTERM.
        stack.callback(stop_all, processes, 2)
        serve = ["code-server", "start", "-m", "haier_pipeline.definitions", "-h", "127.0.0.1", "-p", str(code_port)]
        processes.append(start([str(BIN / "dagster"), *serve], code_env, work, logs["code_server"]))
        # Started together, as containers are: the webserver loads the code location once the code server answers.
        web = ["-w", str(DEPLOY_WORKSPACE), "-h", "127.0.0.1", "-p", str(web_port)]
        processes.append(start([str(BIN / "dagster-webserver"), *web], dagster_env, work, logs["webserver"]))
        url = f"http://127.0.0.1:{web_port}"
        wait_for_code_server(code_port, processes[0], logs["code_server"], timeout=PATIENCE)
        wait_for_webserver(url, processes[1], logs["webserver"], timeout=PATIENCE)
        # The webserver came up before the code server answered: it loads the location when told to, as the UI's
        # "Reload" button does.
        reloaded = graphql(
            url,
            """mutation($name: String!) { reloadRepositoryLocation(repositoryLocationName: $name) {
                __typename ... on WorkspaceLocationEntry { locationOrLoadError { __typename } } } }""",
            {"name": REPOSITORY["repositoryLocationName"]},
        )["reloadRepositoryLocation"]
        assert reloaded["locationOrLoadError"]["__typename"] == "RepositoryLocation", reloaded
        stop_automation(url)
        daemon = [str(BIN / "dagster-daemon"), "run", "-w", str(DEPLOY_WORKSPACE)]
        processes.append(start(daemon, dagster_env, work, logs["daemon"]))
        # This process reads the instance too (the events below), as the webserver does.
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        for name, value in deployed.env.items():
            patch.setenv(name, value)
        yield Topology(deployed, simulators, url, logs)


def submit(topology: Topology, account: str, tagged: bool, selection: Sequence[str] = SELECTION) -> str:
    """A run of the account's selection, launched as the UI launches one (queued: the daemon starts it)."""
    tags = [{"key": ACCOUNT_TAG, "value": account}] if tagged else []
    launched = graphql(
        topology.webserver_url,
        """mutation($params: ExecutionParams!) { launchPipelineExecution(executionParams: $params) {
            __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }""",
        {
            "params": {
                "selector": {
                    **REPOSITORY,
                    "pipelineName": "__ASSET_JOB",
                    "assetSelection": [{"path": [account, name]} for name in selection],
                },
                "executionMetadata": {"tags": tags},
            }
        },
    )["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def wait_until(what: str, done: object, topology: Topology) -> None:
    deadline = time.monotonic() + PATIENCE
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"gave up waiting until {what}:\n{tails(topology.logs)}"
        time.sleep(0.2)


def events(instance: dg.DagsterInstance, run_id: str) -> list[dg.EventLogEntry]:
    return [entry for entry in instance.all_logs(run_id) if entry.is_dagster_event]


def first(entries: Sequence[dg.EventLogEntry], kind: dg.DagsterEventType, step_key: str | None = None) -> float:
    for entry in entries:
        if entry.dagster_event_type == kind and (step_key is None or entry.step_key == step_key):
            return entry.timestamp
    raise AssertionError(f"no {kind.value}{f' of {step_key}' if step_key else ''}")


def run_interval(entries: Sequence[dg.EventLogEntry]) -> Interval:
    return Interval(first(entries, dg.DagsterEventType.RUN_START), first(entries, dg.DagsterEventType.RUN_SUCCESS))


def step_intervals(entries: Sequence[dg.EventLogEntry]) -> dict[str, Interval]:
    return {
        entry.step_key: Interval(entry.timestamp, first(entries, dg.DagsterEventType.STEP_SUCCESS, entry.step_key))
        for entry in entries
        if entry.dagster_event_type == dg.DagsterEventType.STEP_START and entry.step_key
    }


def api_pool(step_key: str) -> str:
    """The pool a step of the accounts file's accounts takes a slot of (`north__products`: haier_api_north)."""
    account = step_key.rpartition("__")[0]
    return pool_of(endpoint(asset_of(step_key)), account)


def has_started(instance: dg.DagsterInstance, run_id: str, step_key: str) -> bool:
    return any(
        entry.dagster_event_type == dg.DagsterEventType.STEP_START and entry.step_key == step_key
        for entry in events(instance, run_id)
    )


# The suite's 300 s per test is for in-process tests; this one starts seven Python processes (see PATIENCE).
@pytest.mark.timeout(900)
def test_accounts_run_side_by_side_and_each_account_one_api_step_at_a_time(topology: Topology) -> None:
    runs = {
        "A": submit(topology, "north", tagged=True),
        # Only north's warehouse pool, which nothing holds: only the run limit per account can keep C queued.
        "C": submit(topology, "north", tagged=True, selection=["price_history"]),
        "S": submit(topology, "south", tagged=True),
        "W": submit(topology, "west", tagged=True),
        "B": submit(topology, "north", tagged=False),
    }
    north_pool = account_key(API_POOL, "north")

    with topology.deployed.load() as instance:
        # Every account's products call is held at its gateway: wait until a products step of each account has
        # started (north's in A or in B, whichever took north's slot first). Were the accounts run one after the
        # other, this would never happen.
        candidates = {"north": ("A", "B"), "south": ("S",), "west": ("W",)}

        def in_progress() -> dict[str, str]:
            return {
                account: run
                for account, those in candidates.items()
                for run in those
                if has_started(instance, runs[run], f"{account}__products")
            }

        wait_until("a products step of each account was in progress", lambda: len(in_progress()) == 3, topology)
        held = {run: f"{account}__products" for account, run in in_progress().items()}
        leader, follower = ("A", "B") if "A" in held else ("B", "A")
        # Meanwhile that north run holds north's one API slot, and the other has started no step: it waits for the
        # slot, in the queue (the daemon keeps a run queued while its first step's pool is full) or, launched, in its
        # step. C waits in the queue for A's run to end (the run limit per account): its pool is free.
        pool = instance.event_log_storage.get_concurrency_info(north_pool)
        holders = [(slot.run_id, slot.step_key) for slot in pool.claimed_slots]
        writers = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots
        status = {run: instance.get_run_by_id(runs[run]).status for run in (follower, "C")}
        follower_waited = not has_started(instance, runs[follower], "north__products")
        for sim in topology.simulators.values():
            sim.config.held_endpoints = ()
        released = time.time()

        assert (pool.slot_count, holders) == (1, [(runs[leader], "north__products")])
        assert follower_waited, f"{follower} called north's API beside {leader}"
        waiting = (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED)
        assert status[follower] in waiting
        # (c) The run limit per account: C stays queued, its pool free, although S and W, queued after it, were
        # launched. The daemon takes queued runs in order and stops at max_concurrent_runs, so a later run launched
        # past an earlier one means the earlier was held back by a limit of its own: here only the account's run
        # limit applies. Seen; C is cancelled rather than waited for.
        assert (status["C"], writers) == (dg.DagsterRunStatus.QUEUED, [])
        enqueued = {run: first(events(instance, runs[run]), dg.DagsterEventType.RUN_ENQUEUED) for run in "CSW"}
        assert enqueued["C"] < enqueued["S"] < enqueued["W"]
        cancelled = graphql(
            topology.webserver_url,
            "mutation($id: String!) { terminateRun(runId: $id) { __typename } }",
            {"id": runs["C"]},
        )["terminateRun"]
        assert cancelled["__typename"] == "TerminateRunSuccess", cancelled

        wait_until(
            "every run finished",
            lambda: all(instance.get_run_by_id(run_id).is_finished for run_id in runs.values()),
            topology,
        )
        ended = {run: instance.get_run_by_id(run_id).status for run, run_id in runs.items()}
        expected = {**dict.fromkeys(runs, dg.DagsterRunStatus.SUCCESS), "C": dg.DagsterRunStatus.CANCELED}
        assert ended == expected, f"{ended}\n{tails(topology.logs)}"
        assert not has_started(instance, runs["C"], "north__price_history"), "C never ran"
        # The deployment ran the test's runs and no others (the automation is off, the orders files absent).
        assert {run.run_id for run in instance.get_runs()} == set(runs.values())
        logged = {run: events(instance, runs[run]) for run in ("A", "B", "S", "W")}

    steps = {run: step_intervals(entries) for run, entries in logged.items()}
    report(logged, released)

    # (a) The three accounts' products steps were in progress at one moment: the latest start precedes the earliest end.
    products = [steps[run][step] for run, step in held.items()]
    assert max(step.start for step in products) < min(step.end for step in products), products

    # (b) North's API steps, of both its runs, one at a time. B has no tag: the queue's run limit never held it;
    # north's pool did.
    north_api = [
        (run, key, interval)
        for run in ("A", "B")
        for key, interval in steps[run].items()
        if api_pool(key) == north_pool
    ]
    assert len(north_api) == 2 * len(SELECTION)
    overlapping = [
        (one[:2], other[:2])
        for i, one in enumerate(north_api)
        for other in north_api[i + 1 :]
        if one[2].overlaps(other[2])
    ]
    assert not overlapping, overlapping

    # And the three accounts' rows are in the one Postgres warehouse, each account's its own.
    with psycopg.connect(database_url(topology.deployed.database)) as conn:
        rows = dict(conn.execute("SELECT account, count(*) FROM haier.prices GROUP BY account").fetchall())
    assert set(rows) == set(ACCOUNTS) and all(count > 0 for count in rows.values()), rows


def report(logged: Mapping[str, Sequence[dg.EventLogEntry]], released: float) -> None:
    """The timeline in seconds from the first submission (pytest -s shows it; the notes quote it)."""
    origin = min(first(entries, dg.DagsterEventType.RUN_ENQUEUED) for entries in logged.values())

    def at(moment: float) -> str:
        return f"{moment - origin:6.2f}"

    print(f"\nproducts calls answered at {at(released)}")
    for run, entries in sorted(logged.items(), key=lambda item: run_interval(item[1]).start):
        launched = first(entries, dg.DagsterEventType.RUN_STARTING)
        interval = run_interval(entries)
        print(f"run {run}: queued .. launched {at(launched)}, started {at(interval.start)} .. ended {at(interval.end)}")
        for key, step in sorted(step_intervals(entries).items(), key=lambda item: item[1].start):
            print(f"    {key:<18} {at(step.start)} .. {at(step.end)}  ({api_pool(key)})")
