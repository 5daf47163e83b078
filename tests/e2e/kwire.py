"""A tiny hand-written Kafka wire codec for the end-to-end tests (stdlib only).

It speaks just enough of the protocol to probe a broker and to send requests that no real
client would send: ApiVersions v0, Metadata v4, Produce v3 with a hand-built RecordBatch v2
(CRC32C in pure Python), Fetch v4 and ListOffsets v1. Requests use header v1, responses
header v0 (all versions here are non-flexible).

Run as a script to probe a broker: `python3 kwire.py probe 127.0.0.1:9092 [--timeout S]`
exits 0 once the broker answers ApiVersions and lists at least one broker in Metadata.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import time
from dataclasses import dataclass, field

API_PRODUCE = 0
API_FETCH = 1
API_LIST_OFFSETS = 2
API_METADATA = 3
API_API_VERSIONS = 18

# Kafka error codes used by the tests.
NONE = 0
OFFSET_OUT_OF_RANGE = 1
CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3
LEADER_NOT_AVAILABLE = 5
MESSAGE_TOO_LARGE = 10
INVALID_TOPIC_EXCEPTION = 17
INVALID_RECORD = 87

COMPRESSION_CODES = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}

# ---------------------------------------------------------------- CRC32C (Castagnoli)


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes, crc: int = 0) -> int:
    """CRC-32C (Castagnoli, reflected, as RecordBatch v2 uses) of `data`."""
    crc ^= 0xFFFFFFFF
    table = _CRC32C_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# ---------------------------------------------------------------- primitive encoders


def i8(v: int) -> bytes:
    return struct.pack(">b", v)


def i16(v: int) -> bytes:
    return struct.pack(">h", v)


def i32(v: int) -> bytes:
    return struct.pack(">i", v)


def i64(v: int) -> bytes:
    return struct.pack(">q", v)


def string(s: str | None) -> bytes:
    """Kafka STRING / NULLABLE_STRING (int16 length)."""
    if s is None:
        return i16(-1)
    b = s.encode()
    return i16(len(b)) + b


def kbytes(b: bytes | None) -> bytes:
    """Kafka BYTES / NULLABLE_BYTES / RECORDS (int32 length)."""
    if b is None:
        return i32(-1)
    return i32(len(b)) + b


def array(items: list[bytes] | None) -> bytes:
    if items is None:
        return i32(-1)
    return i32(len(items)) + b"".join(items)


def varint(v: int) -> bytes:
    """Zigzag varint (as used inside records)."""
    z = (v << 1) ^ (v >> 63)
    z &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while True:
        if z < 0x80:
            out.append(z)
            return bytes(out)
        out.append((z & 0x7F) | 0x80)
        z >>= 7


# ---------------------------------------------------------------- decoding


class Reader:
    """Cursor over a response body; raises ValueError on truncation."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError(f"truncated: need {n} at {self.pos} of {len(self.data)}")
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b

    def i8(self) -> int:
        return struct.unpack(">b", self.take(1))[0]

    def i16(self) -> int:
        return struct.unpack(">h", self.take(2))[0]

    def i32(self) -> int:
        return struct.unpack(">i", self.take(4))[0]

    def u32(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def i64(self) -> int:
        return struct.unpack(">q", self.take(8))[0]

    def string(self) -> str | None:
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def kbytes(self) -> bytes | None:
        n = self.i32()
        return None if n < 0 else self.take(n)

    def array(self, item) -> list | None:
        n = self.i32()
        if n < 0:
            return None
        if n > len(self.data) - self.pos:
            raise ValueError(f"array of {n} cannot fit")
        return [item(self) for _ in range(n)]

    def varint(self) -> int:
        shift = 0
        z = 0
        while True:
            b = self.take(1)[0]
            z |= (b & 0x7F) << shift
            if not b & 0x80:
                break
            shift += 7
            if shift > 63:
                raise ValueError("varint too long")
        return (z >> 1) ^ -(z & 1)

    def remaining(self) -> int:
        return len(self.data) - self.pos


# ---------------------------------------------------------------- record batches


@dataclass
class Record:
    """One record inside a RecordBatch v2."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)
    offset: int = -1
    timestamp: int = -1


def encode_record(offset_delta: int, ts_delta: int, rec: Record) -> bytes:
    body = bytearray()
    body += i8(0)  # attributes
    body += varint(ts_delta)
    body += varint(offset_delta)
    for b in (rec.key, rec.value):
        if b is None:
            body += varint(-1)
        else:
            body += varint(len(b)) + b
    body += varint(len(rec.headers))
    for hk, hv in rec.headers:
        kb = hk.encode()
        body += varint(len(kb)) + kb
        body += varint(-1) if hv is None else varint(len(hv)) + hv
    return varint(len(body)) + bytes(body)


def record_batch(records: list[Record], base_timestamp: int, corrupt_crc: bool = False) -> bytes:
    """An uncompressed, non-transactional RecordBatch v2 (baseOffset 0) with a real CRC32C,
    or a deliberately wrong one when `corrupt_crc`."""
    recs = b"".join(encode_record(i, 0, r) for i, r in enumerate(records))
    after_crc = (
        i16(0)  # attributes: no compression, CreateTime
        + i32(len(records) - 1)  # lastOffsetDelta
        + i64(base_timestamp)
        + i64(base_timestamp)  # maxTimestamp
        + i64(-1)  # producerId
        + i16(-1)  # producerEpoch
        + i32(-1)  # baseSequence
        + i32(len(records))
        + recs
    )
    crc = crc32c(after_crc)
    if corrupt_crc:
        crc ^= 0xDEADBEEF
    # batchLength counts from partitionLeaderEpoch to the end.
    rest = i32(-1) + i8(2) + struct.pack(">I", crc) + after_crc
    return i64(0) + i32(len(rest)) + rest


@dataclass
class BatchInfo:
    """Header fields of one stored batch as returned by Fetch."""

    base_offset: int
    attributes: int
    magic: int
    crc_ok: bool
    records: list[Record]

    @property
    def compression(self) -> int:
        return self.attributes & 0x07

    @property
    def log_append_time(self) -> bool:
        return bool(self.attributes & 0x08)


def parse_batches(data: bytes) -> list[BatchInfo]:
    """Splits a Fetch `records` blob into batches; records are decoded only when the batch
    is uncompressed (compressed batches report their header and an empty record list)."""
    out = []
    pos = 0
    while len(data) - pos >= 17:
        base_offset, batch_len = struct.unpack_from(">qi", data, pos)
        end = pos + 12 + batch_len
        if end > len(data):
            break  # partial trailing batch, as brokers may return
        r = Reader(data[pos + 12 : end])
        r.i32()  # partition leader epoch
        magic = r.i8()
        crc = r.u32()
        crc_ok = crc32c(r.data[r.pos :]) == crc
        attributes = r.i16()
        r.i32()  # last offset delta
        base_ts = r.i64()
        r.i64()  # max timestamp
        r.i64()
        r.i16()
        r.i32()
        count = r.i32()
        records = []
        if attributes & 0x07 == 0:
            for _ in range(count):
                r.varint()  # length
                r.i8()
                ts_delta = r.varint()
                off_delta = r.varint()
                kl = r.varint()
                key = None if kl < 0 else r.take(kl)
                vl = r.varint()
                value = None if vl < 0 else r.take(vl)
                headers = []
                for _ in range(r.varint()):
                    hk = r.take(r.varint()).decode()
                    hl = r.varint()
                    headers.append((hk, None if hl < 0 else r.take(hl)))
                records.append(
                    Record(key, value, headers, base_offset + off_delta, base_ts + ts_delta)
                )
        out.append(BatchInfo(base_offset, attributes, magic, crc_ok, records))
        pos = end
    return out


# ---------------------------------------------------------------- connection


class Closed(Exception):
    """The broker closed the connection."""


class Conn:
    """One blocking TCP connection to a broker; requests carry header v1."""

    def __init__(self, host: str, port: int, timeout: float = 10.0, client_id: str = "weir-kwire"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.client_id = client_id
        self.corr = 0

    @classmethod
    def to(cls, bootstrap: str, timeout: float = 10.0) -> "Conn":
        host, port = bootstrap.rsplit(":", 1)
        return cls(host, int(port), timeout)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "Conn":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def frame(self, api_key: int, version: int, body: bytes, corr: int | None = None) -> bytes:
        if corr is None:
            self.corr += 1
            corr = self.corr
        payload = i16(api_key) + i16(version) + i32(corr) + string(self.client_id) + body
        return i32(len(payload)) + payload

    def recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise Closed(f"connection closed after {len(buf)} of {n} bytes")
            buf += chunk
        return bytes(buf)

    def recv_response(self) -> tuple[int, Reader]:
        (size,) = struct.unpack(">i", self.recv_exact(4))
        if size < 4 or size > 256 * 1024 * 1024:
            raise ValueError(f"bad response size {size}")
        data = self.recv_exact(size)
        r = Reader(data)
        corr = r.i32()
        return corr, r

    def request(self, api_key: int, version: int, body: bytes) -> Reader:
        self.send_raw(self.frame(api_key, version, body))
        corr, r = self.recv_response()
        if corr != self.corr:
            raise ValueError(f"correlation id {corr} != {self.corr}")
        return r

    def wait_closed(self, timeout: float) -> bool:
        """True when the broker closes the connection (EOF or reset) within `timeout`
        seconds; False when it stays open and silent. Raises if it sends data."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        if data:
            raise AssertionError(f"broker answered {data[:64]!r} instead of closing")
        return True

    # ------------------------------------------------------------ typed requests

    def api_versions(self) -> dict[int, tuple[int, int]]:
        r = self.request(API_API_VERSIONS, 0, b"")
        err = r.i16()
        if err != NONE:
            raise ValueError(f"ApiVersions error {err}")
        keys = r.array(lambda x: (x.i16(), x.i16(), x.i16()))
        return {k: (lo, hi) for k, lo, hi in keys or []}

    def metadata(self, topics: list[str] | None, allow_auto_create: bool = False) -> dict:
        """Metadata v4. Returns {'brokers': [(id, host, port)], 'cluster_id', 'controller_id',
        'topics': {name: {'error': code, 'partitions': {index: (error, leader)},
        'replicas': {index: (replicas, isr)}}}}."""
        body = array(None if topics is None else [string(t) for t in topics])
        body += i8(1 if allow_auto_create else 0)
        r = self.request(API_METADATA, 4, body)
        r.i32()  # throttle
        brokers = r.array(lambda x: (x.i32(), x.string(), x.i32(), x.string()))
        cluster_id = r.string()
        controller_id = r.i32()

        def partition(x: Reader):
            err = x.i16()
            idx = x.i32()
            leader = x.i32()
            replicas = x.array(lambda y: y.i32()) or []
            isr = x.array(lambda y: y.i32()) or []
            return idx, (err, leader), (replicas, isr)

        def topic(x: Reader):
            err = x.i16()
            name = x.string()
            x.i8()  # is_internal
            parts = x.array(partition) or []
            return name, {"error": err, "partitions": {i: el for i, el, _ in parts},
                          "replicas": {i: ri for i, _, ri in parts}}

        topics_out = dict(r.array(topic) or [])
        return {
            "brokers": [(b[0], b[1], b[2]) for b in brokers or []],
            "cluster_id": cluster_id,
            "controller_id": controller_id,
            "topics": topics_out,
        }

    def produce(
        self, topic: str, partition: int, batch: bytes, acks: int = -1, timeout_ms: int = 10000
    ) -> tuple[int, int]:
        """Produce v3 of one batch; returns (error_code, base_offset)."""
        body = string(None) + i16(acks) + i32(timeout_ms)
        body += array([string(topic) + array([i32(partition) + kbytes(batch)])])
        r = self.request(API_PRODUCE, 3, body)
        topics = r.array(
            lambda x: (
                x.string(),
                x.array(lambda y: (y.i32(), y.i16(), y.i64(), y.i64())),
            )
        )
        _, parts = topics[0]
        _, err, base, _ = parts[0]
        return err, base

    def fetch_request_body(
        self, topic: str, partition: int, offset: int, max_wait_ms: int = 0, min_bytes: int = 1,
        max_bytes: int = 4 * 1024 * 1024,
    ) -> bytes:
        body = i32(-1) + i32(max_wait_ms) + i32(min_bytes) + i32(max_bytes) + i8(0)
        body += array([string(topic) + array([i32(partition) + i64(offset) + i32(max_bytes)])])
        return body

    @staticmethod
    def parse_fetch(r: Reader) -> tuple[int, int, list[BatchInfo]]:
        r.i32()  # throttle
        topics = r.array(
            lambda x: (
                x.string(),
                x.array(
                    lambda y: (
                        y.i32(),
                        y.i16(),
                        y.i64(),
                        y.i64(),
                        y.array(lambda z: (z.i64(), z.i64())),
                        y.kbytes(),
                    )
                ),
            )
        )
        _, parts = topics[0]
        _, err, hw, _, _, records = parts[0]
        return err, hw, parse_batches(records or b"")

    def fetch(
        self, topic: str, partition: int, offset: int, max_wait_ms: int = 0, min_bytes: int = 1
    ) -> tuple[int, int, list[BatchInfo]]:
        """Fetch v4 of one partition; returns (error_code, high_watermark, batches)."""
        body = self.fetch_request_body(topic, partition, offset, max_wait_ms, min_bytes)
        return self.parse_fetch(self.request(API_FETCH, 4, body))

    def fetch_session(
        self, session_id: int, epoch: int, parts: list[tuple[str, int, int]],
        forgotten: list[tuple[str, list[int]]] = (), max_wait_ms: int = 0, min_bytes: int = 1,
    ) -> dict:
        """Fetch v8 in a fetch session (KIP-227): `parts` are (topic, partition, offset) to
        add or update, `forgotten` (topic, [partitions]) to drop. Returns {'error',
        'session_id', 'partitions': {(topic, partition): (error, high_watermark,
        record_bytes)}} in response order."""
        body = i32(-1) + i32(max_wait_ms) + i32(min_bytes) + i32(4 * 1024 * 1024) + i8(0)
        body += i32(session_id) + i32(epoch)
        topics: dict[str, list[bytes]] = {}
        for t, p, offset in parts:
            topics.setdefault(t, []).append(i32(p) + i64(offset) + i64(-1) + i32(1024 * 1024))
        body += array([string(t) + array(ps) for t, ps in topics.items()])
        body += array([string(t) + array([i32(p) for p in ps]) for t, ps in forgotten])
        r = self.request(API_FETCH, 8, body)
        r.i32()  # throttle
        err = r.i16()
        sid = r.i32()
        out: dict[tuple[str, int], tuple[int, int, int]] = {}

        def topic(x: Reader):
            name = x.string()

            def partition(y: Reader):
                idx, perr, hw = y.i32(), y.i16(), y.i64()
                y.i64()  # last stable offset
                y.i64()  # log start offset
                y.array(lambda z: (z.i64(), z.i64()))
                records = y.kbytes() or b""
                out[(name, idx)] = (perr, hw, len(records))

            x.array(partition)

        r.array(topic)
        return {"error": err, "session_id": sid, "partitions": out}

    def list_offsets(self, topic: str, partition: int, timestamp: int) -> tuple[int, int]:
        """ListOffsets v1 (-2 earliest, -1 latest); returns (error_code, offset)."""
        body = i32(-1) + array([string(topic) + array([i32(partition) + i64(timestamp)])])
        r = self.request(API_LIST_OFFSETS, 1, body)
        topics = r.array(
            lambda x: (x.string(), x.array(lambda y: (y.i32(), y.i16(), y.i64(), y.i64())))
        )
        _, parts = topics[0]
        _, err, _, off = parts[0]
        return err, off


def sasl_plain(c: "Conn", user: str, password: str) -> bool:
    """Logs `c` in with SASL/PLAIN (SaslHandshake v1, SaslAuthenticate v1)."""
    r = c.request(17, 1, string("PLAIN"))
    if r.i16() != 0:
        return False
    r = c.request(36, 1, kbytes(b"\0" + user.encode() + b"\0" + password.encode()))
    return r.i16() == 0


def probe(bootstrap: str, timeout: float = 2.0) -> bool:
    """True when the broker answers ApiVersions and Metadata lists at least one broker;
    with KWIRE_SASL_PLAIN=USER:PASSWORD in the environment, after logging in with PLAIN (a
    SASL listener serves nothing else before)."""
    login = os.environ.get("KWIRE_SASL_PLAIN")
    try:
        with Conn.to(bootstrap, timeout) as c:
            versions = c.api_versions()
            if API_METADATA not in versions:
                return False
            if login:
                user, _, password = login.partition(":")
                if not sasl_plain(c, user, password):
                    return False
            return len(c.metadata([])["brokers"]) > 0
    except (OSError, ValueError, Closed):
        return False


def _main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "probe":
        print("usage: kwire.py probe HOST:PORT [--timeout SECONDS]", file=sys.stderr)
        return 2
    timeout = 2.0
    if "--timeout" in argv:
        timeout = float(argv[argv.index("--timeout") + 1])
    deadline = time.monotonic() + timeout
    while True:
        if probe(argv[1], min(2.0, max(0.2, deadline - time.monotonic()))):
            return 0
        if time.monotonic() >= deadline:
            return 1
        time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
