"""Which accounts a command works for (`--account NAME`), and `sync` of several accounts side by side: one process
per account, each with its own run, client and rate limit, so one account's failure never stops another's."""

from __future__ import annotations

import argparse
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence

from haier_pipeline.accounts import ACCOUNT_NAME
from haier_pipeline.cli.exit_codes import EXIT_CONFIG, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_UNANSWERED
from haier_pipeline.errors import HaierConfigurationError
from haier_pipeline.settings import Settings

# Worst last: the exit code of several accounts is the worst of theirs.
BY_SEVERITY = (EXIT_OK, EXIT_UNANSWERED, EXIT_FAILED, EXIT_CONFIG, EXIT_INTERRUPTED)
VERDICTS = {
    EXIT_OK: "ok",
    EXIT_UNANSWERED: "finished, items unanswered",
    EXIT_FAILED: "failed",
    EXIT_CONFIG: "configuration error",
    EXIT_INTERRUPTED: "interrupted",
}
# After Ctrl-C, how long an account's process may take to end its step in order before it is killed.
STOP_GRACE_SECONDS = 30.0


def account_name_argument(raw: str) -> str:
    name = raw.strip()
    if not ACCOUNT_NAME.fullmatch(name):
        raise argparse.ArgumentTypeError(f"{raw!r} is not an account name (lowercase letters, digits and _)")
    return name


def add_account_argument(parser: argparse.ArgumentParser, *, repeatable: bool) -> None:
    if repeatable:
        parser.add_argument(
            "--account",
            metavar="NAME",
            type=account_name_argument,
            action="append",
            help="an account of HAIER_ACCOUNTS_FILE (may be repeated; default: every account, side by side)",
        )
    else:
        parser.add_argument(
            "--account",
            metavar="NAME",
            type=account_name_argument,
            help="an account of HAIER_ACCOUNTS_FILE (default: the only account)",
        )


def chosen_accounts(settings: Settings, names: Sequence[str] | None) -> list[str]:
    """The accounts named (each once), or every account; an unknown name is a configuration error listing them."""
    if not names:
        return list(settings.accounts)
    if unknown := [settings.unknown_account(name) for name in names if name not in settings.accounts]:
        raise HaierConfigurationError(unknown)
    return list(dict.fromkeys(names))


def the_account(settings: Settings, name: str | None) -> Settings:
    """The account a one-account command asks: the one named, else the only one."""
    if name is not None:
        return settings.account(name)
    if len(settings.accounts) == 1:
        return next(iter(settings.accounts.values()))
    raise HaierConfigurationError(
        [f"there are {len(settings.accounts)} accounts ({', '.join(settings.accounts)}): name one with --account NAME"]
    )


def worst(codes: Sequence[int]) -> int:
    return max(codes, key=lambda code: BY_SEVERITY.index(code) if code in BY_SEVERITY else 2, default=EXIT_OK)


def default_at_once() -> int:
    """Accounts synced at once by default: one account at its limit takes about a third of a core (bench figure 10:
    3 to 4 CPU s per 1,000 calls at 100 calls/s), so twice the cores keeps every account near its limit."""
    return 2 * (os.cpu_count() or 1)


def sync_side_by_side(accounts: Sequence[str], arguments: Callable[[str], list[str]], at_once: int) -> int:
    """One `sync` process per account, `at_once` of them at a time (the next starts when one ends); each account's
    output as one block when it ends (a header with its outcome, then what its sync printed); the worst exit code.
    Each process has its own session: Ctrl-C reaches this one, which asks each running one once to stop in order,
    and starts no other."""
    started = time.monotonic()
    waiting = list(accounts)
    children: dict[str, subprocess.Popen[str]] = {}
    ended: queue.Queue[tuple[str, str]] = queue.Queue()

    def start(name: str) -> None:
        child = subprocess.Popen(
            [sys.executable, "-m", "haier_pipeline.cli", *arguments(name)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        children[name] = child
        output = child.stdout
        assert output is not None
        threading.Thread(target=lambda: ended.put((name, output.read())), daemon=True).start()

    codes: dict[str, int] = {}
    interrupted = False
    while len(codes) < len(accounts) - (len(waiting) if interrupted else 0):
        while waiting and not interrupted and len(children) - len(codes) < at_once:
            start(waiting.pop(0))
        try:
            name, output = ended.get(timeout=0.5)
        except queue.Empty:
            continue
        except KeyboardInterrupt:
            interrupted = True
            stop(children.values())
            continue
        codes[name] = children[name].wait()
        elapsed = time.monotonic() - started
        print(f"account {name}: {VERDICTS.get(codes[name], 'failed')} (exit {codes[name]}, {elapsed:.1f} s)")
        print(output, end="" if output.endswith("\n") or not output else "\n", flush=True)
    failed = [f"{name} ({VERDICTS.get(code, 'failed')}, exit {code})" for name, code in codes.items() if code]
    failed += [f"{name} (not started)" for name in waiting]
    if failed:
        print(
            f"haier-pipeline sync: {len(failed)} of {len(accounts)} accounts did not finish cleanly: "
            f"{', '.join(failed)}; the others were written. See each account's block above.",
            file=sys.stderr,
        )
    return EXIT_INTERRUPTED if interrupted else worst(list(codes.values()))


def stop(children: Iterable[subprocess.Popen[str]]) -> None:
    """Ctrl-C once to each account's process (its step ends in order, its run is marked interrupted); killed if it
    has not ended within STOP_GRACE_SECONDS, or at a second Ctrl-C."""
    running = [child for child in children if child.poll() is None]
    for child in running:
        child.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    try:
        for child in running:
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
    except KeyboardInterrupt:
        for child in running:
            child.kill()
