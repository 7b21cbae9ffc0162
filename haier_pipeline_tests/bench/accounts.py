"""Figure 10 (issue 24): several dealer accounts side by side, as a dealer group runs them. Each account has its own
gateway (a simulator process at 30 ms enforcing 100 requests/s, as each sold-to account has its own limit), all are
named in one accounts file, and one `haier-pipeline sync --only products,stock` runs them, one process per account,
into one DuckDB warehouse. For 1, 2 and 4 accounts, then more until the accounts fall short of 0.9 of their limits:
the stock calls/s the accounts made together against the sum of their limits, throttled answers, the wall time
against one account's, and the CPU all that took (the syncs' process tree, from the kernel, per 1,000 calls; the
gateways', which a real deployment would not carry, apart).

    python -m haier_pipeline_tests.bench --only accounts
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from haier_pipeline.haier.pacing import HEADROOM
from haier_pipeline_tests.bench.gateway import COUNTIES, JITTER_SHARE, answered, throttled
from haier_pipeline_tests.bench.report import Figure, Row, count, seconds
from haier_pipeline_tests.bench.sizes import Sizes
from haier_pipeline_tests.bench.syncs import HAIER_PIPELINE, POLL_SECONDS, Workspace, _fork_main
from haier_pipeline_tests.simulated import SIMULATOR_CREDENTIALS

ACCOUNTS_TITLE = "several accounts side by side (one `sync`, a process and a gateway per account)"
# The share of their limits the accounts must reach together to count as sustained.
SUSTAINED = 0.9
STOCK_STEP = "stock_snapshots"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class AccountSizes:
    """How big the figure is at each preset: `products` x `counties` stock pairs per account (about 92 % of the
    products are procurable), `counts` always measured, then more accounts (`step` at a time) up to `most`."""

    products: int
    counties: int
    counts: tuple[int, ...]
    most: int
    step: int = 2

    def as_json(self) -> dict[str, Any]:
        return {
            "products": self.products,
            "counties": self.counties,
            "counts": list(self.counts),
            "most": self.most,
            "step": self.step,
        }


# Full: about 2,500 stock calls per account, 26 s at 97/s. Quick: about 1,000. Smoke: a shape, no figure.
ACCOUNT_SIZES = {
    "full": AccountSizes(products=270, counties=10, counts=(1, 2, 4), most=10),
    "quick": AccountSizes(products=110, counties=10, counts=(1, 2, 4), most=8),
    "smoke": AccountSizes(products=12, counties=2, counts=(1, 2), most=2),
}


def account_sizes(sizes: Sizes) -> AccountSizes:
    return ACCOUNT_SIZES.get(sizes.preset, ACCOUNT_SIZES["full"])


@dataclass
class Gateway:
    """One account's simulator process: its URL and process id (its CPU time is read from /proc)."""

    base_url: str
    process: subprocess.Popen[bytes]

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = requests.request(method, f"{self.base_url}/_sim/{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.process.pid)


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU of a live process, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of every core since boot, from /proc/stat: the whole machine, other users too."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    total = sum(values[:8])  # user .. steal (guest time is already inside user)
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


@contextmanager
def gateways(count_: int, products: int, latency_ms: float, rate: float) -> Iterator[list[Gateway]]:
    """`count_` simulator processes, each enforcing `rate` requests/s, answering after `latency_ms` (±20 %)."""
    with ExitStack() as stack:
        started = [stack.enter_context(_gateway(products, latency_ms, rate)) for _ in range(count_)]
        for gate in started:
            _wait_until_up(gate)
            gate.admin(
                "POST",
                "config",
                {
                    "client_secret": SIMULATOR_CREDENTIALS["client_secret"],
                    "password": SIMULATOR_CREDENTIALS["password"],
                    "customer_password": SIMULATOR_CREDENTIALS["password"],
                    "latency_jitter_ms": latency_ms * JITTER_SHARE,
                },
            )
        yield started


@contextmanager
def _gateway(products: int, latency_ms: float, rate: float) -> Iterator[Gateway]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "haier_pipeline.cli.main", "simulator", "--port", str(port)]
    command += ["--products", str(products), "--latency-ms", str(latency_ms), "--rate", str(rate)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield Gateway(f"http://127.0.0.1:{port}", process)
    finally:
        process.terminate()
        process.wait(10)


def _wait_until_up(gate: Gateway, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            gate.admin("GET", "stats")
            return
        except requests.RequestException:
            if time.monotonic() > deadline or gate.process.poll() is not None:
                raise RuntimeError("a simulator did not start") from None
            time.sleep(0.2)


def accounts_file(path: Path, gates: list[Gateway], counties: tuple[str, ...], rate: float) -> list[str]:
    """The accounts file a dealer group writes: one account per gateway (secrets from the unprefixed variables)."""
    names = [f"a{number}" for number in range(1, len(gates) + 1)]
    lines = ["[defaults]", f"rate_limit = {rate:g}", f"counties = {json.dumps(list(counties))}", ""]
    for name, gate in zip(names, gates, strict=True):
        lines += [f"[account.{name}]", f'base_url = "{gate.base_url}"']
        lines += [f'customer_code = "{SIMULATOR_CREDENTIALS["customer_code"]}"', ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return names


@dataclass
class AccountRun:
    """One account's part of a side-by-side sync: its gateway's counts and its stock phase (from its timings)."""

    name: str
    stats: dict[str, Any]
    stock_first_sent_at: float
    stock_last_answer_at: float
    gateway_cpu_seconds: float
    process_started_at: float | None  # this account's process (the sync's own for one account)
    launched_at: float  # the sync command, by the benchmark's clock

    @property
    def stock_calls(self) -> int:
        return int(self.stats["calls"].get("stock", 0))

    @property
    def stock_seconds(self) -> float:
        return self.stock_last_answer_at - self.stock_first_sent_at

    @property
    def stock_rate(self) -> float:
        return self.stock_calls / self.stock_seconds

    def as_json(self) -> dict[str, Any]:
        return {
            "account": self.name,
            "calls": int(self.stats["total_requests"]),
            "stock_calls": self.stock_calls,
            "stock_seconds": round(self.stock_seconds, 2),
            "stock_calls_per_second": round(self.stock_rate, 1),
            "throttled": throttled(self.stats),
            "busiest_second": self.stats.get("busiest_second"),
            "answers_by_endpoint": {endpoint: answered(self.stats, endpoint) for endpoint in self.stats["calls"]},
            "gateway_cpu_seconds": round(self.gateway_cpu_seconds, 2),
            "process_started_after_launch": (
                round(self.process_started_at - self.launched_at, 2) if self.process_started_at else None
            ),
            "stock_started_after_launch": round(self.stock_first_sent_at - self.launched_at, 2),
            "stock_ended_after_launch": round(self.stock_last_answer_at - self.launched_at, 2),
        }


@dataclass
class SideBySide:
    """`haier-pipeline sync` of `count` accounts: the whole process tree's wall and CPU time, each account's part."""

    count: int
    rate: float
    exit_code: int
    wall_seconds: float
    cpu_seconds: float  # the sync and every account's process, from wait4 (children it reaped included)
    machine_busy_seconds: float  # every core of the machine, other work included
    accounts: list[AccountRun] = field(default_factory=list)
    output: str = ""

    @property
    def calls(self) -> int:
        return sum(int(account.stats["total_requests"]) for account in self.accounts)

    @property
    def stock_calls(self) -> int:
        return sum(account.stock_calls for account in self.accounts)

    @property
    def limits(self) -> float:
        return self.rate * self.count

    @property
    def summed_rate(self) -> float:
        """Each account's stock calls over its own stock phase, summed: what the accounts drew of their limits."""
        return sum(account.stock_rate for account in self.accounts)

    @property
    def ratio(self) -> float:
        return self.summed_rate / self.limits

    @property
    def lowest_ratio(self) -> float:
        return min(account.stock_rate for account in self.accounts) / self.rate

    @property
    def together_seconds(self) -> float:
        """From the first stock call of any account to the last stock answer of any."""
        first = min(account.stock_first_sent_at for account in self.accounts)
        return max(account.stock_last_answer_at for account in self.accounts) - first

    @property
    def throttled(self) -> int:
        return sum(throttled(account.stats) for account in self.accounts)

    @property
    def gateway_cpu_seconds(self) -> float:
        return sum(account.gateway_cpu_seconds for account in self.accounts)

    def cpu_share(self, cores: int) -> float:
        """The syncs' and the gateways' CPU over the wall time of every core."""
        return (self.cpu_seconds + self.gateway_cpu_seconds) / (self.wall_seconds * cores)

    def as_json(self) -> dict[str, Any]:
        cores = os.cpu_count() or 1
        return {
            "accounts": self.count,
            "exit_code": self.exit_code,
            "wall_seconds": round(self.wall_seconds, 2),
            "calls": self.calls,
            "stock_calls": self.stock_calls,
            "summed_stock_calls_per_second": round(self.summed_rate, 1),
            "ratio_to_limits": round(self.ratio, 3),
            "lowest_account_ratio": round(self.lowest_ratio, 3),
            "stock_phases_together_seconds": round(self.together_seconds, 2),
            "stock_calls_per_second_together": round(self.stock_calls / self.together_seconds, 1),
            "throttled": self.throttled,
            "sync_cpu_seconds": round(self.cpu_seconds, 2),
            "sync_cpu_seconds_per_1000_calls": round(self.cpu_seconds / self.calls * 1000, 2),
            "gateway_cpu_seconds": round(self.gateway_cpu_seconds, 2),
            "gateway_cpu_seconds_per_1000_calls": round(self.gateway_cpu_seconds / self.calls * 1000, 2),
            "cpu_share_of_the_cores": round(self.cpu_share(cores), 3),
            "machine_busy_share": round(self.machine_busy_seconds / (self.wall_seconds * cores), 3),
            "per_account": [account.as_json() for account in self.accounts],
        }


def side_by_side(sizes: Sizes, root: Path, count_: int) -> SideBySide:
    """Start `count_` gateways and one `haier-pipeline sync --only products,stock` of as many accounts; wait for it."""
    chosen = account_sizes(sizes)
    counties = COUNTIES[: chosen.counties]
    with gateways(count_, chosen.products, sizes.latency_ms, sizes.rate_limit) as gates:
        workspace = Workspace.create(
            root / "accounts", f"accounts-{count_}", gates[0].base_url, counties, sizes.rate_limit, sizes.fork_syncs
        )
        file = workspace.home / f"accounts-{count_}.toml"
        names = accounts_file(file, gates, counties, sizes.rate_limit)
        timings = workspace.home / f"accounts-{count_}.timings.json"
        argv = [str(HAIER_PIPELINE), "sync", "--only", "products,stock", "--timings", str(timings)]
        env = workspace.env({"HAIER_ACCOUNTS_FILE": str(file)})
        out_path = workspace.home / f"accounts-{count_}.out"
        for gate in gates:
            gate.admin("POST", "reset")
        cpu_before = [gate.cpu_seconds() for gate in gates]
        busy_before, _ = machine_busy()
        launched = time.time()
        if workspace.fork:
            pid = _fork_main(argv[1:], workspace.home, env, out_path, out_path.with_suffix(".err"))
        else:
            with out_path.open("wb") as out:
                pid = subprocess.Popen(
                    argv, cwd=workspace.home, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                ).pid
        status, usage = reap(pid, launched, workspace.sync_timeout)
        wall = time.time() - launched
        busy_after, _ = machine_busy()
        cpu_after = [gate.cpu_seconds() for gate in gates]
        stats = [gate.admin("GET", "stats") for gate in gates]
    output = out_path.read_text(encoding="utf-8", errors="replace")
    run = SideBySide(
        count=count_,
        rate=sizes.rate_limit,
        exit_code=os.waitstatus_to_exitcode(status),
        wall_seconds=wall,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        machine_busy_seconds=busy_after - busy_before,
        output=output,
    )
    if run.exit_code != 0:
        raise RuntimeError(f"{count_} accounts side by side: exit {run.exit_code}: {output[-2000:]}")
    for name, gate_stats, before, after in zip(names, stats, cpu_before, cpu_after, strict=True):
        own = timings if count_ == 1 else timings.with_suffix(f".{name}{timings.suffix}")
        written = json.loads(own.read_text(encoding="utf-8"))
        stock = next(window for key, window in written["steps"].items() if key.split("/")[-1] == STOCK_STEP)
        run.accounts.append(
            AccountRun(
                name,
                gate_stats,
                stock["first_sent_at"],
                stock["last_answer_at"],
                after - before,
                written.get("process_started_at"),
                launched,
            )
        )
    return run


def reap(pid: int, launched: float, timeout: float) -> tuple[int, Any]:
    """Wait for the sync and take its resource usage (its account processes it reaped included). A sync still running
    `timeout` seconds after its launch, or a Ctrl-C here, is interrupted as a user would (its accounts stop in order);
    a hang raises."""
    deadline = launched + timeout
    try:
        while time.time() < deadline:
            reaped, status, usage = os.wait4(pid, os.WNOHANG)
            if reaped:
                return status, usage
            time.sleep(POLL_SECONDS)
    except BaseException:  # the sync, and through its own Ctrl-C its accounts, must not outlive the benchmark
        os.kill(pid, signal.SIGINT)
        os.waitpid(pid, 0)
        raise
    os.kill(pid, signal.SIGINT)
    os.waitpid(pid, 0)
    raise RuntimeError(f"the sync was still running {timeout:.0f} s after its launch: interrupted")


def accounts_figure(sizes: Sizes, root: Path) -> Figure:
    """1, 2, 4 accounts (the preset's counts), then more until they fall short of SUSTAINED of their limits, then
    the counts between the most that reached it and the fewest above that did not."""
    chosen = account_sizes(sizes)
    runs = [side_by_side(sizes, root, count_) for count_ in chosen.counts]
    while runs[-1].ratio >= SUSTAINED and runs[-1].count + chosen.step <= chosen.most:
        runs.append(side_by_side(sizes, root, runs[-1].count + chosen.step))
    best = most_sustained(runs)
    above = min((run.count for run in runs if run.count > (best.count if best else 0)), default=None)
    if above is not None:
        measured = {run.count for run in runs}
        for between in range((best.count if best else 0) + 1, above):
            if between not in measured:
                runs.append(side_by_side(sizes, root, between))
    runs.sort(key=lambda run: run.count)
    return figure_of(runs, sizes.rate_limit, chosen)


def paced_rate(rate: float) -> float:
    """The calls/s an account makes at its limit: the client paces HEADROOM under it."""
    return rate * (1 - HEADROOM)


def most_sustained(runs: list[SideBySide]) -> SideBySide | None:
    """The most accounts measured that reached SUSTAINED of their limits together."""
    return max((run for run in runs if run.ratio >= SUSTAINED), key=lambda run: run.count, default=None)


def accounts(number: int) -> str:
    return f"{number} account" if number == 1 else f"{number} accounts"


def figure_of(runs: list[SideBySide], rate: float, chosen: AccountSizes) -> Figure:
    one = runs[0]
    cores = os.cpu_count() or 1
    rows = []
    for run in runs:
        plural = accounts(run.count).split()[1]
        rows.append(
            Row(
                f"{run.count} {plural}: stock calls/s, each account over its own stock phase, summed",
                f"{run.summed_rate:,.1f} calls/s ({count(run.stock_calls)} stock calls)",
                f"the sum of the limits, {run.limits:g}/s (lowest account {run.lowest_ratio:.3f})",
                round(run.ratio, 3),
                f">= {SUSTAINED:g}" if run.count > 1 else None,
                run.ratio >= SUSTAINED if run.count > 1 else None,
            )
        )
        rows.append(
            Row(
                f"{run.count} {plural}: throttled answers (429)",
                count(run.throttled),
                f"of {count(run.calls)} calls at {run.count} gateways; busiest second "
                + "/".join(str(account.stats.get("busiest_second")) for account in run.accounts),
                None,
                "0",
                run.throttled == 0,
            )
        )
        rows.append(
            Row(
                f"{run.count} {plural}: wall time of the whole `sync`",
                seconds(run.wall_seconds),
                f"one account's, {seconds(one.wall_seconds)}",
                round(run.wall_seconds / one.wall_seconds, 3),
            )
        )
        rows.append(
            Row(
                f"{run.count} {plural}: CPU per 1,000 calls (the syncs' processes)",
                f"{run.cpu_seconds / run.calls * 1000:.2f} s ({run.cpu_seconds:.1f} s for {count(run.calls)} calls)",
                f"the gateways' {run.gateway_cpu_seconds / run.calls * 1000:.2f} s; syncs and gateways together "
                f"{run.cpu_share(cores):.0%} of {cores} cores over the wall time (the machine: "
                f"{run.machine_busy_seconds / (run.wall_seconds * cores):.0%} busy)",
                round(run.cpu_share(cores), 3),
            )
        )
    best = most_sustained(runs)
    after = next((run for run in runs if best is None or run.count > best.count), None)
    verdict = f"{best.count}" if best is not None else "none"
    why = (
        f"{accounts(after.count)} reached {after.ratio:.3f}, with syncs and gateways using "
        f"{after.cpu_share(cores):.0%} of {cores} cores (the machine: "
        f"{after.machine_busy_seconds / (after.wall_seconds * cores):.0%} busy)"
        if after is not None
        else f"every count up to {runs[-1].count} sustained it (the most tried)"
    )
    if short := [run.count for run in runs if run.ratio < SUSTAINED and best is not None and run.count < best.count]:
        why += f"; short of it below that: {', '.join(accounts(number) for number in short)} (a busy machine)"
    rows.append(
        Row(
            f"the most accounts this machine sustains at >= {SUSTAINED:g} of their limits",
            verdict,
            why,
            round(best.ratio, 3) if best is not None else None,
        )
    )
    largest = runs[-1]
    per_account = paced_rate(rate) * largest.cpu_seconds / largest.calls  # cores one account at its limit keeps busy
    with_gateways = paced_rate(rate) * (largest.cpu_seconds + largest.gateway_cpu_seconds) / largest.calls
    rows.append(
        Row(
            f"accounts {cores} cores could carry at their limits, by the CPU one call cost at {largest.count} accounts",
            f"{cores / per_account:.1f} ({per_account:.2f} of a core per account at {paced_rate(rate):g} calls/s)",
            f"{cores / with_gateways:.1f} with each gateway on the same cores, as here; nothing else running",
        )
    )
    return Figure(
        "accounts",
        ACCOUNTS_TITLE,
        rows=rows,
        details={
            "sizes": chosen.as_json(),
            "rate_limit": rate,
            "cores": cores,
            "most_sustained": best.count if best is not None else 0,
            "runs": [run.as_json() for run in runs],
        },
    )
