"""Client-side pacing so the gateway never has to throttle: one budget per account and machine.

The vendor's limit is per account, so every process using one account on one machine (two CLI syncs, a
sync beside a run of the UI, `query` during a sync) draws its send slots from one small file: the next
free slot, a float on CLOCK_MONOTONIC (`time.monotonic()`, one clock for the whole machine on Linux),
read and advanced under an fcntl lock. The file is named by a hash of the base URL and client id (never
the secret: the gateway counts per application) and lives in one machine-wide directory, `default_pacing_dir()`,
unless the client names another. Should the directory be unusable, the limiter falls back to pacing this process
alone, with a warning.

After the slot the file holds who changed it last (the time, on the same clock, and the process id): a limiter that
finds another process there remembers it, so a step that stays throttled can say whether another caller on this
account was pacing beside it, or the gateway throttled on its own (a storm). A file written before holds the slot
alone and is read as such; a reader that knows only the slot reads the first 8 bytes, as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path

from haier_pipeline.redaction import redacting_logger

try:
    import fcntl
except ImportError:  # not POSIX: each process paces itself
    fcntl = None  # type: ignore[assignment]

log = redacting_logger("haier_pipeline.haier")

# Requests reach the gateway with a few milliseconds of jitter; pacing 3 % under the limit keeps a
# sliding one-second window at the gateway from ever counting one request too many.
HEADROOM = 0.03
PACING_DIR_NAME = "haier-pipeline-pacing"
MACHINE_WIDE_DIR = "/dev/shm"
SLOT_SUFFIX = ".slot"
# A slot file untouched this long holds only past slots: deleting it loses nothing.
STALE_SECONDS = 3600.0
# Monotonic clocks restart at boot: a stored slot further ahead than any hold-off is from before it.
MAX_AHEAD_SECONDS = 300.0
# A thread late for its slot by more than half the spacing, or this, takes a new one. Half the spacing alone (5 ms at
# 100/s) is below what a wake-up takes at a high limit (50 us at 10,000/s): every thread would retake slots over and
# over. A late send moves at most late x rate requests into the gateway's next second, under the HEADROOM x rate the
# pacing leaves free for any lateness under 30 ms.
MIN_LATENESS = 0.0005
_SLOT = struct.Struct("<d")
_SLOT_AND_TAKER = struct.Struct("<ddq")  # next free slot, when it was last changed, by which process id


def default_pacing_dir() -> Path:
    """One directory for the whole machine, whatever the caller's DAGSTER_HOME, working directory or TMPDIR: two
    Dagster instances, a CLI sync and a `query` calling one account all draw from its one file. /dev/shm where there is
    one, not the temporary directory: TMPDIR differs between shells, and a service with systemd's PrivateTmp (a daemon
    unit) has a /tmp of its own, so either would pace apart and be throttled (22 % of calls, measured)."""
    shared = Path(MACHINE_WIDE_DIR)
    return (shared if shared.is_dir() else Path(tempfile.gettempdir())) / PACING_DIR_NAME


def slot_file(directory: Path, account: str) -> Path:
    return directory / (hashlib.sha256(account.encode()).hexdigest()[:32] + SLOT_SUFFIX)


class RateLimiter:
    """Hands out send slots evenly spaced, shared by every thread and, through `path`, every process.

    Even spacing (no burst allowance) means any one-second window holds fewer than `rate` sends, which is
    what a sliding-window gateway counts; a token bucket with a burst could exceed it at a boundary.
    """

    def __init__(self, rate: float, path: Path | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.path = path if fcntl is not None else None
        self._interval = (1.0 + HEADROOM) / rate
        self._lateness = max(self._interval / 2, MIN_LATENESS)
        self._next_slot = 0.0  # used only without a file
        self._lock = threading.Lock()
        # The slot file, opened once: opening it per slot cost more than the rest of the slot together.
        self._fd: int | None = None
        _every_limiter.add(self)
        # The last other process seen changing the slot file: (process id, when, on CLOCK_MONOTONIC).
        self.other_caller: tuple[int, float] | None = None
        if self.path is not None:
            self._prepare(self.path.parent)

    def acquire(self) -> float:
        """Block until this caller's slot; returns the seconds waited.

        A thread that wakes up well after its slot (the interpreter was busy) would send late, right next
        to the on-time sender of the following slot, and two of them could land in one gateway window
        with a request too many. It gives its slot up and takes a new one instead."""
        started = time.monotonic()
        while True:
            now, next_slot = self._advance(lambda now, next_slot: max(now, next_slot) + self._interval)
            slot = max(now, next_slot)
            if slot > now:
                time.sleep(slot - now)
            if time.monotonic() - slot <= self._lateness:
                return time.monotonic() - started

    def defer(self, seconds: float) -> None:
        """After a 429 every thread of every process holds off, not just the one that was told to."""
        self._advance(lambda now, next_slot: max(next_slot, now + seconds))

    def other_caller_since(self, since: float) -> int | None:
        """The id of another process that took a slot or held off on this account at or after `since` (monotonic)."""
        seen = self.other_caller
        return seen[0] if seen is not None and seen[1] >= since else None

    def _advance(self, change: Callable[[float, float], float]) -> tuple[float, float]:
        """Store `change(now, next_slot)` as the next free slot, atomically; returns (now, old next_slot)."""
        with self._lock:
            if self.path is not None:
                try:
                    now, next_slot, taker = self._advance_file(self.path, change)
                    if taker is not None and taker[0] != os.getpid():
                        self.other_caller = taker
                    return now, next_slot
                except OSError as error:
                    log.warning("pacing file %s unusable (%s): pacing this process alone", self.path, error.strerror)
                    self.path = None
                    self._close()
            now = time.monotonic()
            next_slot = self._next_slot
            self._next_slot = change(now, next_slot)
            return now, next_slot

    def _advance_file(
        self, path: Path, change: Callable[[float, float], float]
    ) -> tuple[float, float, tuple[int, float] | None]:
        """(now, the old next slot, (process id, when) of the last change before this one, if the file says)."""
        while True:
            if self._fd is None:
                self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
            fd = self._fd
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if os.fstat(fd).st_nlink == 0:
                    self._close()  # deleted as stale: the next caller's file is a new one
                    continue
                now = time.monotonic()
                raw = os.pread(fd, _SLOT_AND_TAKER.size, 0)
                taker = None
                if len(raw) == _SLOT_AND_TAKER.size:
                    next_slot, taken_at, pid = _SLOT_AND_TAKER.unpack(raw)
                    taker = (pid, taken_at) if pid > 0 and taken_at <= now else None
                else:
                    next_slot = _SLOT.unpack(raw[: _SLOT.size])[0] if len(raw) >= _SLOT.size else 0.0
                if not next_slot <= now + MAX_AHEAD_SECONDS:  # from before a reboot, or garbage (NaN)
                    next_slot = 0.0
                os.pwrite(fd, _SLOT_AND_TAKER.pack(change(now, next_slot), now, os.getpid()), 0)
                return now, next_slot, taker
            finally:
                if self._fd == fd:
                    fcntl.flock(fd, fcntl.LOCK_UN)

    def __del__(self) -> None:
        with contextlib.suppress(OSError, AttributeError):
            self._close()

    def _close(self) -> None:
        """Close the slot file (its lock goes with it); the next slot opens it again."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def _forget_inherited(self) -> None:
        """In a forked child: the parent's open file shares its lock with the parent (flock locks belong to the open
        file, not the process), and the parent's lock may have been held by a thread the child does not have."""
        self._lock = threading.Lock()
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)  # the parent's lock stays with the parent's descriptor

    def _prepare(self, directory: Path) -> None:
        """Create the directory and delete slot files nobody has used for an hour (one per test server)."""
        try:
            if not directory.is_dir():
                directory.mkdir(parents=True, exist_ok=True)
                # Every user's processes share the machine's budget; the sticky bit keeps each user's files their own.
                with contextlib.suppress(OSError):
                    directory.chmod(0o1777)
            entries = list(os.scandir(directory))
        except OSError as error:
            log.warning("pacing directory %s unusable (%s): pacing this process alone", directory, error.strerror)
            self.path = None
            return
        cutoff = time.time() - STALE_SECONDS
        for entry in entries:
            try:
                if entry.name.endswith(SLOT_SUFFIX) and entry.stat().st_mtime < cutoff:
                    Path(entry.path).unlink(missing_ok=True)
            except OSError:
                continue  # another process got there first


_limiters: dict[tuple[str, float, str], RateLimiter] = {}
_registry_lock = threading.Lock()
_every_limiter: weakref.WeakSet[RateLimiter] = weakref.WeakSet()


def _forget_inherited_limiters() -> None:
    global _registry_lock
    _registry_lock = threading.Lock()
    for limiter in list(_every_limiter):
        limiter._forget_inherited()


if hasattr(os, "register_at_fork"):  # POSIX only, as fcntl: elsewhere each process paces itself anyway
    os.register_at_fork(after_in_child=_forget_inherited_limiters)


def shared_limiter(account: str, rate: float, directory: Path | None = None) -> RateLimiter:
    """One limiter per account (and rate) in this process, drawing from the account's file in `directory`."""
    directory = directory if directory is not None else default_pacing_dir()
    with _registry_lock:
        key = (account, rate, str(directory))
        if key not in _limiters:
            _limiters[key] = RateLimiter(rate, slot_file(directory, account))
        return _limiters[key]
