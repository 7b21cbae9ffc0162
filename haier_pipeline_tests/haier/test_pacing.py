"""The machine-wide pacing budget: one slot file per account, read and advanced under a lock.

Two RateLimiter objects on one file stand for two processes: each opens the file for itself, so
they share it through the file and its lock exactly as separate processes do (the two-process test
against the simulator is in haier_pipeline_tests/faults)."""

from __future__ import annotations

import os
import struct
import tempfile
import time
from pathlib import Path

import pytest

from haier_pipeline.haier.pacing import (
    MACHINE_WIDE_DIR,
    PACING_DIR_NAME,
    STALE_SECONDS,
    RateLimiter,
    default_pacing_dir,
    shared_limiter,
    slot_file,
)

SLOW = 0.01  # requests per second: one slot every ~100 s, so a second acquire would visibly wait


def next_slot(limiter: RateLimiter) -> float:
    """The next free slot as this limiter sees it (reading it changes nothing)."""
    return limiter._advance(lambda now, slot: slot)[1]


def test_two_limiters_on_one_file_share_the_slots(tmp_path: Path) -> None:
    path = slot_file(tmp_path, "https://openplat.haier.net|client")
    first, second = RateLimiter(SLOW, path), RateLimiter(SLOW, path)
    assert first.acquire() < 1.0, "the first slot is free"
    assert next_slot(second) >= time.monotonic() + 90, "the other process sees the slot taken"
    alone = RateLimiter(SLOW, slot_file(tmp_path, "https://openplat.haier.net|another-client"))
    assert alone.acquire() < 1.0, "another account has its own budget"


def test_a_forked_child_opens_the_slot_file_for_itself(tmp_path: Path) -> None:
    """A lock on the parent's open file would be the parent's too: the child would take slots beside it unlocked."""
    limiter = RateLimiter(SLOW, slot_file(tmp_path, "account"))
    limiter.acquire()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports and exits, whatever happens
        try:
            fresh = limiter._fd is None and next_slot(limiter) >= time.monotonic() + 90
            os.write(write, b"1" if fresh else b"0")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1", "the child reopened the file and saw the parent's slot taken"


def test_a_429_hold_off_is_shared(tmp_path: Path) -> None:
    path = slot_file(tmp_path, "account")
    RateLimiter(100, path).defer(120)
    assert next_slot(RateLimiter(100, path)) >= time.monotonic() + 110


def test_a_slot_from_before_a_reboot_is_ignored(tmp_path: Path) -> None:
    path = slot_file(tmp_path, "account")
    path.write_bytes(struct.pack("<d", time.monotonic() + 10**6))
    assert next_slot(RateLimiter(100, path)) == 0.0


def test_slot_files_unused_for_an_hour_are_deleted_and_others_kept(tmp_path: Path) -> None:
    old, recent, other = tmp_path / "old.slot", tmp_path / "recent.slot", tmp_path / "notes.txt"
    for path in (old, recent, other):
        path.write_bytes(b"")
    long_ago = time.time() - STALE_SECONDS - 60
    os.utime(old, (long_ago, long_ago))
    os.utime(other, (long_ago, long_ago))
    RateLimiter(100, slot_file(tmp_path, "account"))
    assert not old.exists()
    assert recent.exists() and other.exists()


def test_an_unusable_directory_falls_back_to_pacing_this_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    limiter = RateLimiter(SLOW, slot_file(blocker / "pacing", "account"))
    assert limiter.path is None
    assert "pacing this process alone" in caplog.text
    assert limiter.acquire() < 1.0
    assert next_slot(limiter) >= time.monotonic() + 90


def test_the_slot_file_is_named_by_account_never_by_secret(tmp_path: Path) -> None:
    limiter = shared_limiter("https://openplat.haier.net|client-1", 100, tmp_path)
    assert limiter is shared_limiter("https://openplat.haier.net|client-1", 100, tmp_path)
    assert limiter.path == slot_file(tmp_path, "https://openplat.haier.net|client-1")
    assert limiter.path is not None and limiter.path.parent == tmp_path


def test_the_client_paces_through_its_accounts_file(tmp_path: Path) -> None:
    from haier_pipeline.haier.client import HaierClient

    client = HaierClient(
        base_url="https://openplat.haier.net/",
        client_id="client-1",
        client_secret="secret-never-in-a-path",
        customer_code="8800633175",
        password="password-1",
        pacing_dir=str(tmp_path),
    )
    path = client._pacer().path
    assert path == slot_file(tmp_path, "https://openplat.haier.net|client-1")
    assert "secret" not in str(path)


@pytest.mark.skipif(not Path(MACHINE_WIDE_DIR).is_dir(), reason="no /dev/shm on this system")
def test_every_process_of_the_machine_paces_in_one_place_whatever_its_temporary_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two syncs of one account whose TMPDIRs differed (a systemd PrivateTmp daemon beside a shell) paced apart: 22 % of
    their calls were throttled."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert default_pacing_dir() == Path(MACHINE_WIDE_DIR) / PACING_DIR_NAME
