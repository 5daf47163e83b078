"""A FUSE file system that forgets every write not yet fsynced when it "loses power", in the
spirit of LazyFS: the power-loss tests (test_powerloss.py) put each broker's data directory
on one.

    python lazyfs.py BACKING MOUNTPOINT      (stays in the foreground)

MOUNTPOINT mirrors the directory BACKING. Namespace operations (create, mkdir, rename,
unlink, rmdir, link, symlink, chmod, ...) pass straight through to BACKING, so they are
durable at once. File DATA (write, truncate, ftruncate) is kept in this process's memory,
per file, until that file is fsynced (fsync or fdatasync; `flush`, which the kernel sends
on every close, is not a sync): reads overlay the pending data on BACKING's content and
getattr reports the overlaid size. A file created and never fsynced therefore survives a
power loss empty, and one appended to survives short: the failure modes a broker must
survive without losing what it acknowledged. Pending data belongs to the file (its inode
in BACKING), not to a name: it follows the file across a rename and a hard link, and is
dropped when the file's last name is removed and nothing holds it open. A file opened
O_SYNC or O_DSYNC is synced by every write. A lookup of `/.lazyfs-sync-all` in the mount
writes every file's pending data to BACKING, as the kernel's writeback would some seconds
later (`LazyFs.sync_all()`: a durable baseline for a test).

A power loss is: SIGKILL every process using the mount, SIGKILL this process (the pending
data vanishes with it), detach the mount (`umount -l`), and mount a fresh file system on the
same BACKING. `LazyFs` below does the last three for the mount it started.

The kernel side: no writeback cache (libfuse 2), so every write reaches this process as it
happens; `hard_remove`, so unlinking an open file really unlinks it (no .fuse_hidden files;
reads, writes and fsyncs through its descriptors still work, but libfuse 2's high-level API
answers an fstat of it with ENOENT once the kernel's attribute cache has expired).
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

PAGE = 4096


# ------------------------------------------------------------------ the file system


class Pending:
    """A file's unsynced state: its own read-write descriptor of the backing file (which
    also keeps the inode, and so its number, from being reused), its logical size, `floor`
    (the backing file's bytes from here on are no longer part of the file: a truncation
    cut them off) and whole dirty pages {index: bytearray(PAGE)} holding the file's current
    bytes. Invariants: floor <= size; a page's bytes past `size` are zeros."""

    __slots__ = ("fd", "size", "floor", "pages")

    def __init__(self, fd: int):
        self.fd = fd
        self.size = self.floor = os.fstat(fd).st_size
        self.pages: dict[int, bytearray] = {}


# getattr of this name in the mount's root writes every file's pending data to the backing
# directory (as the kernel's writeback eventually would), then answers ENOENT.
SYNC_ALL = "/.lazyfs-sync-all"


class LazyOps:
    """The FUSE operations (fusepy, raw_fi=True: file operations get the fuse_file_info,
    whose `fh` is the backing file's descriptor). fusepy registers only the operations
    defined here: without `lock` the kernel does POSIX locks itself, and without the xattr
    operations it stops asking for them (security.capability before every write) after
    the first ENOSYS. One lock guards all state: libfuse calls from several threads."""

    use_ns = True
    # Operations on a file unlinked while open (hard_remove) come with no path.
    flag_nullpath_ok = 1

    def __call__(self, op, *args):
        if op.startswith("_") or not hasattr(self, op):
            raise OSError(errno.ENOSYS, op)
        return getattr(self, op)(*args)

    def __init__(self, root: str):
        self.root = os.path.realpath(root)
        self.lock_ = threading.RLock()
        self.pending: dict[int, Pending] = {}  # backing inode -> unsynced data
        self.fd_ino: dict[int, int] = {}  # open backing descriptor -> its inode
        self.fd_sync: set[int] = set()  # descriptors opened O_SYNC / O_DSYNC
        self.opens: dict[int, int] = {}  # inode -> descriptors open on it

    def _p(self, path: str) -> str:
        return self.root + path

    # ---------------------------------------------------------------- pending data

    def _pending(self, ino: int, source: int | str) -> Pending:
        """The file's pending state, started (from an open descriptor or a path) if none."""
        p = self.pending.get(ino)
        if p is None:
            where = f"/proc/self/fd/{source}" if isinstance(source, int) else source
            p = self.pending[ino] = Pending(os.open(where, os.O_RDWR))
        return p

    @staticmethod
    def _base(p: Pending, start: int, end: int) -> bytes:
        """The backing content of [start, end) as the file sees it: zeros at and past
        p.floor, and zero-filled past the backing file's end."""
        data = b""
        if start < p.floor:
            data = os.pread(p.fd, min(end, p.floor) - start, start)
        if len(data) < end - start:
            data += bytes(end - start - len(data))
        return data

    def _write(self, fd: int, data: bytes, offset: int) -> None:
        p = self._pending(self.fd_ino[fd], fd)
        pos, end = offset, offset + len(data)
        view = memoryview(data)
        while pos < end:
            idx = pos // PAGE
            start = idx * PAGE
            stop = min(start + PAGE, end)
            page = p.pages.get(idx)
            if page is None:
                if pos == start and stop == start + PAGE:
                    page = bytearray(PAGE)  # about to be overwritten whole
                else:
                    page = bytearray(self._base(p, start, start + PAGE))
                p.pages[idx] = page
            page[pos - start:stop - start] = view[pos - offset:stop - offset]
            pos = stop
        p.size = max(p.size, end)

    def _truncate(self, ino: int, source: int | str, length: int) -> None:
        p = self._pending(ino, source)
        if length < p.size:
            for idx in [i for i in p.pages if i * PAGE >= length]:
                del p.pages[idx]
            page = p.pages.get(length // PAGE)
            if page is not None:
                cut = length % PAGE
                page[cut:] = bytes(PAGE - cut)
        p.floor = min(p.floor, length)
        p.size = length

    def _read(self, fd: int, size: int, offset: int) -> bytes:
        p = self.pending.get(self.fd_ino[fd])
        if p is None:
            return os.pread(fd, size, offset)
        end = min(offset + size, p.size)
        out = bytearray()
        pos = offset
        while pos < end:
            idx = pos // PAGE
            start = idx * PAGE
            stop = min(start + PAGE, end)
            page = p.pages.get(idx)
            if page is not None:
                out += page[pos - start:stop - start]
                pos = stop
                continue
            # A run of clean pages: one read of the backing file.
            while stop < end and (stop // PAGE) not in p.pages:
                stop = min(stop + PAGE, end)
            out += self._base(p, pos, stop)
            pos = stop
        return bytes(out)

    def _sync(self, ino: int) -> None:
        """Makes the file's pending data durable: writes it to the backing file."""
        p = self.pending.get(ino)
        if p is None:
            return
        if p.floor < os.fstat(p.fd).st_size:
            os.ftruncate(p.fd, p.floor)
        for idx in sorted(p.pages):
            start = idx * PAGE
            n = min(PAGE, p.size - start)
            if n > 0:
                os.pwrite(p.fd, p.pages[idx][:n], start)
        if os.fstat(p.fd).st_size != p.size:
            os.ftruncate(p.fd, p.size)
        self._drop(ino)

    def _drop(self, ino: int) -> None:
        p = self.pending.pop(ino, None)
        if p is not None:
            os.close(p.fd)

    def _forget_if_gone(self, ino: int, nlink_after: int) -> None:
        """Drops a file's pending data once no name and no descriptor keeps the file."""
        if nlink_after <= 0 and not self.opens.get(ino):
            self._drop(ino)

    # ---------------------------------------------------------------- file handles

    @staticmethod
    def _fd(fi) -> int | None:
        return fi.fh if fi is not None and hasattr(fi, "fh") else None

    def _register(self, fd: int, flags: int) -> int:
        ino = os.fstat(fd).st_ino
        self.fd_ino[fd] = ino
        self.opens[ino] = self.opens.get(ino, 0) + 1
        if flags & (os.O_SYNC | os.O_DSYNC):
            self.fd_sync.add(fd)
        return fd

    @staticmethod
    def _open_backing(path: str, flags: int, mode: int = 0o644) -> int:
        # Always read-write when allowed: reads of pending pages and syncs need both.
        # Never O_APPEND (writes land at the offsets the kernel gives), never O_TRUNC
        # (a truncation is pending data too).
        # Never O_DIRECT (this process reads and writes at any alignment).
        flags &= ~(os.O_APPEND | os.O_TRUNC | os.O_DIRECT)
        try:
            return os.open(path, (flags & ~os.O_ACCMODE) | os.O_RDWR, mode)
        except PermissionError:
            return os.open(path, flags, mode)

    def open(self, path, fi):
        with self.lock_:
            fd = self._open_backing(self._p(path), fi.flags)
            self._register(fd, fi.flags)
            if fi.flags & os.O_TRUNC:
                self._truncate(self.fd_ino[fd], fd, 0)
            fi.fh = fd
            return 0

    def create(self, path, mode, fi):
        with self.lock_:
            fd = self._open_backing(self._p(path), fi.flags | os.O_CREAT, mode)
            self._register(fd, fi.flags)
            if fi.flags & os.O_TRUNC and os.fstat(fd).st_size:
                self._truncate(self.fd_ino[fd], fd, 0)
            fi.fh = fd
            return 0

    def read(self, path, size, offset, fi):
        with self.lock_:
            return self._read(fi.fh, size, offset)

    def write(self, path, data, offset, fi):
        with self.lock_:
            self._write(fi.fh, data, offset)
            if fi.fh in self.fd_sync:
                self._sync(self.fd_ino[fi.fh])
            return len(data)

    def truncate(self, path, length, fi=None):
        with self.lock_:
            fd = self._fd(fi)
            st = os.fstat(fd) if fd is not None else os.lstat(self._p(path))
            if self.pending.get(st.st_ino) is None and st.st_size == length:
                return 0
            self._truncate(st.st_ino, fd if fd is not None else self._p(path), length)
            return 0

    def flush(self, path, fi):
        return 0  # close(2): not a sync

    def fsync(self, path, datasync, fi):
        with self.lock_:
            self._sync(self.fd_ino[fi.fh])
            return 0

    def release(self, path, fi):
        with self.lock_:
            fd = fi.fh
            ino = self.fd_ino.pop(fd, None)
            self.fd_sync.discard(fd)
            try:
                if ino is not None:
                    left = self.opens.get(ino, 1) - 1
                    if left:
                        self.opens[ino] = left
                    else:
                        self.opens.pop(ino, None)
                        self._forget_if_gone(ino, os.fstat(fd).st_nlink)
            finally:
                os.close(fd)
            return 0

    def getattr(self, path, fi=None):
        with self.lock_:
            if path == SYNC_ALL:
                for ino in list(self.pending):
                    self._sync(ino)
                raise OSError(errno.ENOENT, path)
            fd = self._fd(fi)
            st = os.fstat(fd) if fd is not None else os.lstat(self._p(path))
            attrs = {k: getattr(st, k) for k in ("st_mode", "st_ino", "st_nlink", "st_uid",
                                                 "st_gid", "st_size", "st_blocks", "st_rdev",
                                                 "st_blksize")}
            attrs.update(st_atime=st.st_atime_ns, st_mtime=st.st_mtime_ns,
                         st_ctime=st.st_ctime_ns)
            p = self.pending.get(st.st_ino) if stat.S_ISREG(st.st_mode) else None
            if p is not None:
                attrs["st_size"] = p.size
                attrs["st_blocks"] = (p.size + 511) // 512
            return attrs

    # ---------------------------------------------------------------- namespace

    def unlink(self, path):
        with self.lock_:
            st = os.lstat(self._p(path))
            os.unlink(self._p(path))
            if stat.S_ISREG(st.st_mode):
                self._forget_if_gone(st.st_ino, st.st_nlink - 1)
            return 0

    def rename(self, old, new):
        with self.lock_:
            try:
                replaced = os.lstat(self._p(new))
            except FileNotFoundError:
                replaced = None
            os.rename(self._p(old), self._p(new))
            if replaced is not None and stat.S_ISREG(replaced.st_mode):
                src = os.lstat(self._p(new))
                if src.st_ino != replaced.st_ino:  # not a rename onto a link of itself
                    self._forget_if_gone(replaced.st_ino, replaced.st_nlink - 1)
            return 0

    def link(self, target, source):
        os.link(self._p(source), self._p(target))
        return 0

    def symlink(self, target, source):
        os.symlink(source, self._p(target))
        return 0

    def readlink(self, path):
        return os.readlink(self._p(path))

    def mkdir(self, path, mode):
        os.mkdir(self._p(path), mode)
        return 0

    def rmdir(self, path):
        os.rmdir(self._p(path))
        return 0

    def mknod(self, path, mode, dev):
        os.mknod(self._p(path), mode, dev)
        return 0

    def chmod(self, path, mode):
        os.chmod(self._p(path), mode)
        return 0

    def chown(self, path, uid, gid):
        os.chown(self._p(path), uid, gid)
        return 0

    def utimens(self, path, times=None):
        if times is None:
            os.utime(self._p(path))
        else:
            os.utime(self._p(path), ns=tuple(int(t) for t in times))
        return 0

    def access(self, path, amode):
        if not os.access(self._p(path), amode):
            raise OSError(errno.EACCES, os.strerror(errno.EACCES))
        return 0

    def readdir(self, path, fi):
        return [".", "..", *os.listdir(self._p(path))]

    def fsyncdir(self, path, datasync, fi):
        return 0  # namespace changes are durable as they happen

    def statfs(self, path):
        sv = os.statvfs(self._p(path))
        return {k: getattr(sv, k) for k in ("f_bavail", "f_bfree", "f_blocks", "f_bsize",
                                            "f_favail", "f_ffree", "f_files", "f_flag",
                                            "f_frsize", "f_namemax")}


def main(argv: list[str]) -> int:
    import logging

    from fuse import FUSE

    if len(argv) != 2:
        print("usage: lazyfs.py BACKING MOUNTPOINT", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s lazyfs %(levelname)s %(message)s")
    backing, mountpoint = argv
    FUSE(LazyOps(backing), mountpoint, raw_fi=True, foreground=True, nothreads=False,
         big_writes=True, hard_remove=True, fsname="lazyfs", subtype="lazyfs")
    return 0


# ------------------------------------------------------------------ the test's handle


def fuse_unavailable() -> str | None:
    """Why lazyfs cannot run here (None when it can): /dev/fuse, libfuse 2 (fusepy),
    an unmount command."""
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse"
    try:
        os.close(os.open("/dev/fuse", os.O_RDWR))
    except OSError as e:
        return f"cannot open /dev/fuse: {e}"
    try:
        import fuse  # noqa: F401  (loads libfuse.so.2)
    except (ImportError, OSError) as e:
        return f"fusepy/libfuse2 unavailable: {e}"
    if os.geteuid() != 0 and not shutil.which("fusermount"):
        return "not root and no fusermount"
    if not (shutil.which("umount") or shutil.which("fusermount3") or shutil.which("fusermount")):
        return "no umount/fusermount"
    return None


def require_fuse() -> None:
    """Skips the calling test where FUSE is unavailable; under CI (CI set), fails instead:
    CI must run the tests that need it (scripts/test installs fuse3, libfuse2, fusepy)."""
    import pytest

    why = fuse_unavailable()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"FUSE is unavailable under CI: {why}", pytrace=False)
        pytest.skip(f"FUSE unavailable: {why}")


def _unescape(s: str) -> str:
    """/proc/self/mountinfo escapes space, tab, newline and backslash as \\ooo."""
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and s[i + 1:i + 4].isdigit() and len(s[i + 1:i + 4]) == 3:
            out.append(chr(int(s[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def mounted(mountpoint: Path) -> bool:
    """True while a file system is mounted exactly at `mountpoint` (read from
    /proc/self/mountinfo, which never touches the file system itself)."""
    want = os.path.realpath(mountpoint)
    with open("/proc/self/mountinfo") as f:
        return any(_unescape(line.split()[4]) == want for line in f)


class LazyFs:
    """A lazyfs process mounting `backing` at `mountpoint`, started and stopped by PID.

    mount()        start it and wait until the mount is there
    power_loss()   SIGKILL it (unsynced data is gone), detach the mount, mount a fresh one
                   on the same backing directory; SIGKILL the processes using it FIRST
    crash()        the first half of power_loss(): SIGKILL and detach, no new mount
    sync_all()     write every file's pending data to the backing directory, as the
                   kernel's writeback would some seconds later (a durable baseline)
    unmount()      stop it for good (pending data is lost too); safe to call twice
    """

    def __init__(self, backing: Path, mountpoint: Path, fs_log: Path | None = None):
        self.backing = Path(backing)
        self.mountpoint = Path(mountpoint)
        self.fs_log = Path(fs_log) if fs_log else \
            self.mountpoint.parent / f"{self.mountpoint.name}.lazyfs.log"
        self.proc: subprocess.Popen | None = None

    def __repr__(self) -> str:
        return f"<lazyfs {self.backing} at {self.mountpoint}>"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def mount(self, timeout: float = 30) -> None:
        assert not self.alive(), "already mounted"
        self.backing.mkdir(parents=True, exist_ok=True)
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        if mounted(self.mountpoint):
            raise RuntimeError(f"something is already mounted at {self.mountpoint}")
        log = open(self.fs_log, "ab")
        log.write(f"=== mount {self.backing} at {self.mountpoint}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), str(self.backing),
             str(self.mountpoint)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while not mounted(self.mountpoint):
            if self.proc.poll() is not None:
                raise RuntimeError(f"lazyfs exited with {self.proc.returncode}:\n"
                                   + self._log_tail())
            if time.monotonic() >= deadline:
                self._kill()
                raise RuntimeError("lazyfs did not mount in time:\n" + self._log_tail())
            time.sleep(0.02)

    def sync_all(self) -> None:
        assert self.alive(), "not mounted"
        try:
            os.lstat(self.mountpoint / SYNC_ALL.lstrip("/"))
        except FileNotFoundError:
            return  # the answer once every file's pending data is written
        raise AssertionError(f"{SYNC_ALL} exists in the backing directory")

    def crash(self) -> None:
        self._kill()
        self._detach()

    def power_loss(self) -> None:
        self.crash()
        self.mount()

    def unmount(self) -> None:
        if self.alive() and mounted(self.mountpoint):
            # A clean unmount makes the process exit by itself.
            subprocess.run(self._umount_cmd(lazy=False), capture_output=True, timeout=30,
                           stdin=subprocess.DEVNULL)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self._kill()
        self._detach()

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)

    def _detach(self) -> None:
        deadline = time.monotonic() + 30
        while mounted(self.mountpoint):
            subprocess.run(self._umount_cmd(lazy=True), capture_output=True, timeout=30,
                           stdin=subprocess.DEVNULL)
            if time.monotonic() >= deadline:
                raise RuntimeError(f"could not unmount {self.mountpoint}")
            time.sleep(0.05)

    def _umount_cmd(self, lazy: bool) -> list[str]:
        if os.geteuid() == 0 and shutil.which("umount"):
            return ["umount", *(["-l"] if lazy else []), str(self.mountpoint)]
        tool = shutil.which("fusermount3") or "fusermount"
        return [tool, "-u", *(["-z"] if lazy else []), str(self.mountpoint)]

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.fs_log.read_text(errors="replace").splitlines()[-30:])
        except OSError:
            return "(no log)"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
