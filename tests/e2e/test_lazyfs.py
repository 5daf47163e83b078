"""lazyfs.py, the FUSE file system of the power-loss tests: what was fsynced survives a
power loss, what was not is gone, and the namespace (creates, renames, unlinks) is durable
at once. Independent of the target; skipped where FUSE is unavailable, except under CI,
which must run them (scripts/test installs fuse3, libfuse2 and fusepy)."""

from __future__ import annotations

import mmap
import os
import random

import pytest

from lazyfs import LazyFs, mounted, require_fuse


@pytest.fixture
def fs(tmp_path):
    require_fuse()
    lazy = LazyFs(tmp_path / "backing", tmp_path / "mnt")
    lazy.mount()
    try:
        yield lazy
    finally:
        lazy.unmount()
    assert not mounted(lazy.mountpoint)


def write(path, data: bytes, sync: bool, offset: int | None = None, create: bool = True) -> None:
    flags = os.O_WRONLY | (os.O_CREAT if create else 0)
    fd = os.open(path, flags, 0o644)
    try:
        if offset is None:
            os.write(fd, data)
        else:
            os.pwrite(fd, data, offset)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def test_unsynced_data_is_lost_and_the_created_file_survives_empty(fs):
    m = fs.mountpoint
    write(m / "a", b"hello", sync=False)
    assert (m / "a").read_bytes() == b"hello"
    assert (m / "a").stat().st_size == 5
    assert (fs.backing / "a").stat().st_size == 0, "nothing reaches the backing dir unsynced"
    fs.power_loss()
    assert (m / "a").exists()
    assert (m / "a").read_bytes() == b""


def test_synced_data_is_kept_and_a_later_append_is_lost(fs):
    m = fs.mountpoint
    fd = os.open(m / "seg", os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"x" * 10_000)
    os.fsync(fd)
    os.write(fd, b"tail")
    os.close(fd)  # a close is no sync
    assert (m / "seg").stat().st_size == 10_004
    fs.power_loss()
    assert (m / "seg").read_bytes() == b"x" * 10_000


def test_fdatasync_and_msync_are_syncs(fs):
    m = fs.mountpoint
    fd = os.open(m / "d", os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"data")
    os.fdatasync(fd)
    os.close(fd)
    fd = os.open(m / "mapped", os.O_RDWR | os.O_CREAT, 0o644)
    os.ftruncate(fd, 8192)
    with mmap.mmap(fd, 8192) as mm:
        mm[100:105] = b"index"
        mm.flush()  # msync(MS_SYNC)
    os.close(fd)
    fs.power_loss()
    assert (m / "d").read_bytes() == b"data"
    got = (m / "mapped").read_bytes()
    assert len(got) == 8192 and got[100:105] == b"index" and got.count(0) == 8192 - 5


def test_a_synced_file_renamed_keeps_its_data_under_the_new_name(fs):
    m = fs.mountpoint
    write(m / "tmp", b"checkpoint", sync=True)
    (m / "dir").mkdir()
    os.rename(m / "tmp", m / "dir" / "final")
    fs.power_loss()
    assert not (m / "tmp").exists()
    assert (m / "dir" / "final").read_bytes() == b"checkpoint"


def test_pending_writes_follow_a_rename(fs):
    m = fs.mountpoint
    write(m / "one", b"synced-later", sync=False)
    write(m / "two", b"never-synced", sync=False)
    os.rename(m / "one", m / "one.renamed")
    os.rename(m / "two", m / "two.renamed")
    assert (m / "one.renamed").read_bytes() == b"synced-later"
    fd = os.open(m / "one.renamed", os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    # A rename over a file whose data is pending: the replaced file's data goes with it.
    write(m / "victim", b"pending", sync=False)
    write(m / "winner", b"synced", sync=True)
    os.rename(m / "winner", m / "victim")
    assert (m / "victim").read_bytes() == b"synced"
    fs.power_loss()
    assert sorted(os.listdir(m)) == ["one.renamed", "two.renamed", "victim"]
    assert (m / "one.renamed").read_bytes() == b"synced-later"
    assert (m / "two.renamed").read_bytes() == b""
    assert (m / "victim").read_bytes() == b"synced"


def test_truncate_is_pending_until_synced(fs):
    m = fs.mountpoint
    old = bytes(range(256)) * 40  # 10,240 bytes
    write(m / "f", old, sync=True)
    os.truncate(m / "f", 100)  # by path
    assert (m / "f").stat().st_size == 100
    # Growing it again shows zeros, not the cut-off bytes still in the backing file.
    write(m / "f", b"end", sync=False, offset=5000, create=False)
    got = (m / "f").read_bytes()
    assert got == old[:100] + bytes(4900) + b"end"
    fs.power_loss()
    assert (m / "f").read_bytes() == old, "the truncation was never synced"
    fd = os.open(m / "f", os.O_RDWR)
    os.ftruncate(fd, 3000)
    os.pwrite(fd, b"Z", 5999)
    os.fsync(fd)
    os.ftruncate(fd, 10)  # not synced
    os.close(fd)
    assert (m / "f").read_bytes() == old[:10]
    fs.power_loss()
    assert (m / "f").read_bytes() == old[:3000] + bytes(2999) + b"Z"


def test_open_with_o_trunc_is_a_pending_truncation(fs):
    m = fs.mountpoint
    write(m / "f", b"synced content", sync=True)
    with open(m / "f", "wb") as f:
        f.write(b"new")
    assert (m / "f").read_bytes() == b"new"
    fs.power_loss()
    assert (m / "f").read_bytes() == b"synced content"


def test_unlink_drops_pending_data_and_an_open_unlinked_file_still_works(fs):
    m = fs.mountpoint
    write(m / "gone", b"s" * 5000, sync=False)
    os.unlink(m / "gone")
    # A new file (possibly reusing the inode number) starts empty.
    write(m / "fresh", b"", sync=False)
    assert (m / "fresh").read_bytes() == b""
    # (fstat of an unlinked file fails on libfuse 2's high-level API: reads and writes
    # through the descriptor are what an open, unlinked segment needs.)
    fd = os.open(m / "open", os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"still here")
    os.unlink(m / "open")
    assert os.pread(fd, 100, 0) == b"still here"
    os.pwrite(fd, b"!", 10)
    assert os.pread(fd, 100, 0) == b"still here!"
    os.fsync(fd)
    os.close(fd)
    assert sorted(os.listdir(m)) == ["fresh"], "no .fuse_hidden files"
    fs.power_loss()
    assert sorted(os.listdir(m)) == ["fresh"]
    assert (m / "fresh").read_bytes() == b""


def test_hard_links_share_pending_data(fs):
    m = fs.mountpoint
    write(m / "a", b"shared", sync=False)
    os.link(m / "a", m / "b")
    assert (m / "b").read_bytes() == b"shared"
    os.unlink(m / "a")
    assert (m / "b").read_bytes() == b"shared", "the data lives while a name does"
    fd = os.open(m / "b", os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    fs.power_loss()
    assert (m / "b").read_bytes() == b"shared"


def test_sync_all_makes_every_file_durable(fs):
    m = fs.mountpoint
    write(m / "closed", b"written and closed", sync=False)
    fd = os.open(m / "open", os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"still open")
    fs.sync_all()
    os.write(fd, b", and more")
    os.close(fd)
    fs.power_loss()
    assert (m / "closed").read_bytes() == b"written and closed"
    assert (m / "open").read_bytes() == b"still open"
    assert sorted(os.listdir(m)) == ["closed", "open"]


def test_random_writes_truncates_syncs_and_power_losses_match_a_model(fs):
    """Random pwrite/ftruncate/fsync/power-loss sequences against a model: the file reads
    back as the model's current bytes, and after a power loss as its last synced ones."""
    rng = random.Random(20240611)
    m = fs.mountpoint
    path = m / "model"
    write(path, b"", sync=True)
    current, durable = bytearray(), bytearray()
    fd = os.open(path, os.O_RDWR)
    try:
        for step in range(400):
            r = rng.random()
            if r < 0.55:
                off = rng.randrange(0, len(current) + 9000)
                data = rng.randbytes(rng.choice([1, 7, 100, 4096, 5000, 20_000]))
                os.pwrite(fd, data, off)
                if off > len(current):
                    current += bytes(off - len(current))
                current[off:off + len(data)] = data
            elif r < 0.7:
                n = rng.randrange(0, len(current) + 6000)
                os.ftruncate(fd, n)
                del current[n:]
                current += bytes(n - len(current))
            elif r < 0.85:
                os.fsync(fd)
                durable = bytearray(current)
            elif r < 0.9:
                os.close(fd)
                fs.power_loss()
                fd = os.open(path, os.O_RDWR)
                current = bytearray(durable)
            off = rng.randrange(0, len(current) + 10)
            assert os.pread(fd, 7000, off) == bytes(current[off:off + 7000]), f"step {step}"
            assert os.fstat(fd).st_size == len(current), f"step {step}"
        assert path.read_bytes() == bytes(current)
    finally:
        os.close(fd)
