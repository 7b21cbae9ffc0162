"""Cross-process serialisation of DuckDB access.

DuckDB lets one process at a time open a file for writing, and no other process may even read it
meanwhile. Writers take an exclusive flock on `<file>.lock` for the length of one transaction, readers
a shared one, so runs queue instead of crashing on DuckDB's "Conflicting lock" error. Processes that do
not use this lock (a DuckDB shell, another tool) are handled by retrying that error until a deadline.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from haier_pipeline.warehouse.errors import ENV_VAR, WarehouseConfigError, WarehouseLockTimeout, storage_error

log = logging.getLogger(__name__)

TIMEOUT_ENV_VAR = "HAIER_WAREHOUSE_LOCK_TIMEOUT"

T = TypeVar("T")

_FIRST_POLL, _MAX_POLL = 0.02, 0.5
_ANNOUNCE_AFTER = 2.0  # seconds of waiting before we say so in the log


def lock_path_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


def what_to_do(db_path: Path) -> str:
    return (
        f"Another process is using {db_path}. Wait for the running sync to finish, or stop the process "
        "holding the file (`dagster dev` / `make ui`, or a DuckDB shell), then retry."
    )


def describe_process(pid: int) -> str:
    """`pid 123 (haier-pipeline sync)`: what an operator needs to find the process."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        command = " ".join(
            Path(part.decode(errors="replace")).name if i == 0 else part.decode(errors="replace")
            for i, part in enumerate(argv[:4])
            if part
        )
    except OSError:
        command = ""
    return f"pid {pid} ({command})" if command else f"pid {pid}"


def lock_holders(lock_path: Path) -> list[int]:
    """The processes holding a flock on `lock_path`, from Linux's /proc/locks (empty elsewhere)."""
    try:
        stat = lock_path.stat()
        table = Path("/proc/locks").read_text()
    except OSError:
        return []
    inode = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    holders = []
    for line in table.splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234 0 EOF"; blocked waiters are marked "->" and skipped.
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == inode and fields[4].isdigit():
            holders.append(int(fields[4]))
    return sorted(set(holders) - {os.getpid()})


def lock_timeout_error(
    db_path: Path, waited: float, exclusive: bool, detail: str = "", earlier: float = 0.0
) -> WarehouseLockTimeout:
    """`earlier`: seconds of the same hold this process had already waited out before this wait began."""
    verb = "write to" if exclusive else "read"
    message = f"Timed out after {waited:.0f} s waiting to {verb} the DuckDB warehouse {db_path}"
    if earlier:
        held = earlier + waited
        message = (
            f"Gave up waiting to {verb} the DuckDB warehouse {db_path}: still held {held:.{0 if held >= 10 else 1}f} s "
            "after this process first found it held, and not waited for again"
        )
    holders = lock_holders(lock_path_for(db_path))
    if holders:
        message += f", held by {', '.join(describe_process(pid) for pid in holders)}"
    if detail:
        message += f" (DuckDB said: {detail})"
    message += ". " + what_to_do(db_path)
    message += f" {TIMEOUT_ENV_VAR} sets how long a step waits."
    return WarehouseLockTimeout(message)


def unwritable_fix(db_path: Path, what: Path) -> str:
    """What to do when `what` (the file, or its journal or lock next to it) cannot be written."""
    if what == db_path:
        return f"make it readable and writable by this user (e.g. `chmod u+rw {db_path}`), or choose another {ENV_VAR}"
    return f"make the folder {db_path.parent} writable by this user, or choose another {ENV_VAR}"


def unwritable_error(db_path: Path, what: Path, reason: str) -> WarehouseConfigError:
    """A writer cannot write the file, or create its journal or lock next to it: a setting to change, not a moment
    to wait out."""
    problem = reason if what == db_path else f"cannot create {what.name} next to it: {reason}"
    return WarehouseConfigError(
        f"cannot write the DuckDB warehouse {db_path} ({problem}); {unwritable_fix(db_path, what)}"
    )


class _Holds:
    """The DuckDB files this process found held by another process, and since when: one hold is waited out once.

    A sync's steps, their `sync_log` rows and its summary each open the file; against a file another process keeps
    (a DuckDB shell, a notebook), each waited HAIER_WAREHOUSE_LOCK_TIMEOUT in turn (243 s at 60 s). A wait now counts
    from when this process first found the file held: once a wait gave up, the next ones make one more try (it may
    have been freed) and fail at once, naming the holder. Whoever opens the file ends the hold; so does a pause of
    more than the timeout without anyone trying (a daemon's later tick waits afresh)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._held: dict[Path, tuple[float, float]] = {}  # file -> (held since, last found held), monotonic

    def earlier(self, db_path: Path, timeout: float) -> float:
        """Seconds of the current hold of `db_path` already waited out; 0 when none is known."""
        now = time.monotonic()
        with self._guard:
            since, last = self._held.get(db_path, (now, -1e18))
        return now - since if now - last <= timeout else 0.0

    def found_held(self, db_path: Path, started: float, timeout: float) -> None:
        now = time.monotonic()
        with self._guard:
            since, last = self._held.get(db_path, (started, -1e18))
            self._held[db_path] = (since if now - last <= timeout else started, now)

    def found_free(self, db_path: Path) -> None:
        with self._guard:
            self._held.pop(db_path, None)


holds = _Holds()


class _Poller:
    """Backoff sleeps until a deadline, logging once when the wait gets noticeable. Given the file, the deadline
    counts from when this process first found it held (`holds`)."""

    def __init__(self, timeout: float, announce: str, db_path: Path | None = None) -> None:
        self.started = time.monotonic()
        self.db_path = db_path
        self.timeout = timeout
        self.earlier = holds.earlier(db_path, timeout) if db_path is not None else 0.0
        self.deadline = self.started + max(0.0, timeout - self.earlier)
        self._delay = _FIRST_POLL
        self._announce = announce
        self._announced = False

    @property
    def waited(self) -> float:
        return time.monotonic() - self.started

    def timed_out(self, exclusive: bool, detail: str = "") -> WarehouseLockTimeout:
        assert self.db_path is not None
        return lock_timeout_error(self.db_path, self.waited, exclusive, detail, earlier=self.earlier)

    def wait(self) -> bool:
        """Sleep a little; False once the deadline has passed."""
        now = time.monotonic()
        if self.db_path is not None:
            holds.found_held(self.db_path, self.started, self.timeout)
        if now >= self.deadline:
            return False
        if not self._announced and now - self.started >= _ANNOUNCE_AFTER:
            log.info(self._announce)
            self._announced = True
        time.sleep(min(self._delay, max(self.deadline - now, 0.0)))
        self._delay = min(self._delay * 1.5, _MAX_POLL)
        return True


@contextlib.contextmanager
def file_lock(db_path: Path, *, exclusive: bool, timeout: float) -> Iterator[_Poller]:
    """Hold the flock of `db_path` (exclusive for writers, shared for readers), polling up to `timeout`.

    Yields the poller so the caller can spend what is left of the same deadline on opening the file."""
    lock_path = lock_path_for(db_path)
    poller = _Poller(timeout, f"waiting for the warehouse lock {lock_path} (another process is writing)", db_path)
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:
        if exclusive:
            raise storage_error(f"file {db_path}", error) or unwritable_error(
                db_path, lock_path, error.strerror or str(error)
            ) from None
        # A reader in a read-only directory: go without the flock, DuckDB's own lock still protects the file.
        yield poller
        return
    try:
        mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        while True:
            try:
                fcntl.flock(fd, mode)
                break
            except BlockingIOError:
                if held_by_this_thread(db_path):
                    raise self_deadlock_error(db_path) from None
                if not poller.wait():
                    raise poller.timed_out(exclusive) from None
        _flocks[fd] = (db_path, threading.get_ident())
        try:
            yield poller
        finally:
            _flocks.pop(fd, None)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# The flocks this process holds: file descriptor -> (warehouse file, thread that took it).
_flocks: dict[int, tuple[Path, int]] = {}


def held_by_this_thread(db_path: Path) -> bool:
    """Whether this thread still holds a flock on `db_path`: a session Ctrl-C left open. An interrupt that lands as a
    `with` block ends, before its context manager's exit runs, leaves the session's generator suspended (and its
    flock held) until the traceback goes; the step's `failed` row, written meanwhile, waited
    HAIER_WAREHOUSE_LOCK_TIMEOUT for it. Waiting on one's own lock can only time out."""
    me = threading.get_ident()
    return any(path == db_path and thread == me for path, thread in list(_flocks.values()))


def self_deadlock_error(db_path: Path) -> WarehouseLockTimeout:
    return WarehouseLockTimeout(
        f"the DuckDB warehouse {db_path} is still locked by this thread itself: an earlier read or write of it was "
        "interrupted before it could let go (Ctrl-C or SIGTERM); not waited for"
    )


def is_conflicting_lock(error: BaseException) -> bool:
    return "conflicting lock" in str(error).lower() or "could not set lock" in str(error).lower()


def retry_conflicts(
    open_fn: Callable[[], T], poller: _Poller, db_path: Path, exclusive: bool, error_type: type[BaseException]
) -> T:
    """Call `open_fn` until DuckDB stops reporting a lock held by a process outside our flock."""
    while True:
        try:
            opened = open_fn()
        except error_type as exc:
            if not is_conflicting_lock(exc):
                raise
            if not poller.wait():
                raise poller.timed_out(exclusive, str(exc)) from None
        else:
            holds.found_free(db_path)
            return opened
