"""Raw-protocol pieces for idempotence and transactions, on top of kwire (stdlib only):
InitProducerId v0, RecordBatch v2 with a producer id, epoch and base sequence (optionally
transactional), Produce v3 with a transactional id, Fetch v4 and ListOffsets v2 with an
isolation level, and the control records (commit/abort markers) a Fetch returns.

Used by the tests to send what no well-behaved client would (sequence gaps, stale epochs)
and to read a partition exactly as the broker stores it: the last stable offset, the
aborted-transaction list and the control batches.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass

import kwire
from kwire import array, i8, i16, i32, i64, kbytes, string
from sharewire import TAGS, carray, cstr, request, uvarint

API_INIT_PRODUCER_ID = 22

# Error codes of KIP-98 and later (Kafka's Errors enum).
OUT_OF_ORDER_SEQUENCE_NUMBER = 45
DUPLICATE_SEQUENCE_NUMBER = 46
INVALID_PRODUCER_EPOCH = 47
INVALID_TXN_STATE = 48
INVALID_PRODUCER_ID_MAPPING = 49
PRODUCER_FENCED = 90
TRANSACTIONAL_ID_NOT_FOUND = 105

READ_UNCOMMITTED = 0
READ_COMMITTED = 1

ATTR_TRANSACTIONAL = 0x10
ATTR_CONTROL = 0x20


def init_producer_id(conn: kwire.Conn, transactional_id: str | None = None,
                     timeout_ms: int = 60000) -> tuple[int, int, int]:
    """InitProducerId v0; returns (error_code, producer_id, producer_epoch)."""
    r = conn.request(API_INIT_PRODUCER_ID, 0, string(transactional_id) + i32(timeout_ms))
    r.i32()  # throttle
    err = r.i16()
    return err, r.i64(), r.i16()


# What Kafka answers InitProducerId with while it cannot yet: right after start-up, before
# the controller has handed it a block of producer ids (COORDINATOR_LOAD_IN_PROGRESS), and
# while __transaction_state is being created or loaded. Clients retry these.
RETRIABLE_COORDINATOR = {14, 15, 16}  # LOAD_IN_PROGRESS, NOT_AVAILABLE, NOT_COORDINATOR


def init_producer_id_retry(conn: kwire.Conn, transactional_id: str | None = None,
                           timeout: float = 60.0) -> tuple[int, int, int]:
    """InitProducerId, retried (like a client) while the answer is a retriable coordinator
    error, up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        res = init_producer_id(conn, transactional_id)
        if res[0] not in RETRIABLE_COORDINATOR or time.monotonic() >= deadline:
            return res
        time.sleep(0.1)


def batch(values: list[bytes], producer_id: int, epoch: int, base_sequence: int,
          base_timestamp: int, transactional: bool = False) -> bytes:
    """An uncompressed RecordBatch v2 (baseOffset 0) of `values` (keyless records) from the
    given producer, with a real CRC32C."""
    recs = b"".join(kwire.encode_record(i, 0, kwire.Record(None, v))
                    for i, v in enumerate(values))
    attributes = ATTR_TRANSACTIONAL if transactional else 0
    after_crc = (
        i16(attributes)
        + i32(len(values) - 1)  # lastOffsetDelta
        + i64(base_timestamp)
        + i64(base_timestamp)  # maxTimestamp
        + i64(producer_id)
        + i16(epoch)
        + i32(base_sequence)
        + i32(len(values))
        + recs
    )
    rest = i32(-1) + i8(2) + struct.pack(">I", kwire.crc32c(after_crc)) + after_crc
    return i64(0) + i32(len(rest)) + rest


def produce(conn: kwire.Conn, topic: str, partition: int, data: bytes,
            transactional_id: str | None = None, acks: int = -1,
            timeout_ms: int = 10000) -> tuple[int, int]:
    """Produce v3 of one batch; returns (error_code, base_offset)."""
    body = string(transactional_id) + i16(acks) + i32(timeout_ms)
    body += array([string(topic) + array([i32(partition) + kbytes(data)])])
    r = conn.request(kwire.API_PRODUCE, 3, body)
    topics = r.array(lambda x: (x.string(),
                                x.array(lambda y: (y.i32(), y.i16(), y.i64(), y.i64()))))
    _, parts = topics[0]
    _, err, base, _ = parts[0]
    return err, base


def list_offset(conn: kwire.Conn, topic: str, partition: int, timestamp: int = -1,
                isolation: int = READ_UNCOMMITTED) -> tuple[int, int]:
    """ListOffsets v2 (-1 latest, -2 earliest) with an isolation level; returns
    (error_code, offset). Latest under READ_COMMITTED is the last stable offset."""
    body = i32(-1) + i8(isolation)
    body += array([string(topic) + array([i32(partition) + i64(timestamp)])])
    r = conn.request(kwire.API_LIST_OFFSETS, 2, body)
    r.i32()  # throttle
    topics = r.array(lambda x: (x.string(),
                                x.array(lambda y: (y.i32(), y.i16(), y.i64(), y.i64()))))
    _, parts = topics[0]
    _, err, _, off = parts[0]
    return err, off


@dataclass
class FetchResult:
    error: int
    high_watermark: int
    last_stable_offset: int
    aborted: list[tuple[int, int]]  # (producer_id, first_offset)
    batches: list  # StoredBatch


@dataclass
class StoredBatch:
    base_offset: int
    last_offset: int
    attributes: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records: list  # kwire.Record (uncompressed batches only)

    @property
    def transactional(self) -> bool:
        return bool(self.attributes & ATTR_TRANSACTIONAL)

    @property
    def control(self) -> bool:
        return bool(self.attributes & ATTR_CONTROL)

    def marker(self) -> str | None:
        """"COMMIT" or "ABORT" for a control batch (its record's key type), else None."""
        if not self.control or not self.records:
            return None
        key = self.records[0].key or b""
        if len(key) < 4:
            return "?"
        return {0: "ABORT", 1: "COMMIT"}.get(struct.unpack(">h", key[2:4])[0], "?")


def parse_stored(data: bytes) -> list[StoredBatch]:
    """Batches of a Fetch `records` blob with their producer fields; records are decoded
    for uncompressed batches only."""
    out = []
    infos = {b.base_offset: b for b in kwire.parse_batches(data)}
    pos = 0
    while len(data) - pos >= 61:
        base_offset, batch_len = struct.unpack_from(">qi", data, pos)
        end = pos + 12 + batch_len
        if end > len(data):
            break
        attributes, last_delta = struct.unpack_from(">hi", data, pos + 21)
        pid, epoch, seq = struct.unpack_from(">qhi", data, pos + 43)
        info = infos.get(base_offset)
        out.append(StoredBatch(base_offset, base_offset + last_delta, attributes, pid, epoch,
                               seq, info.records if info else []))
        pos = end
    return out


def fetch(conn: kwire.Conn, topic: str, partition: int, offset: int,
          isolation: int = READ_UNCOMMITTED, max_bytes: int = 4 * 1024 * 1024) -> FetchResult:
    """Fetch v4 of one partition from `offset` (no waiting)."""
    body = i32(-1) + i32(0) + i32(1) + i32(max_bytes) + i8(isolation)
    body += array([string(topic) + array([i32(partition) + i64(offset) + i32(max_bytes)])])
    r = conn.request(kwire.API_FETCH, 4, body)
    r.i32()  # throttle
    topics = r.array(lambda x: (
        x.string(),
        x.array(lambda y: (y.i32(), y.i16(), y.i64(), y.i64(),
                           y.array(lambda z: (z.i64(), z.i64())), y.kbytes())),
    ))
    _, parts = topics[0]
    _, err, hw, lso, aborted, records = parts[0]
    return FetchResult(err, hw, lso, list(aborted or []), parse_stored(records or b""))


def fetch_all(conn: kwire.Conn, topic: str, partition: int, isolation: int,
              start: int = 0, limit: int = 1000) -> tuple[FetchResult, list[StoredBatch]]:
    """Fetches from `start` until nothing more comes back (at most `limit` requests);
    returns the last response and every batch seen."""
    seen: list[StoredBatch] = []
    offset = start
    res = None
    for _ in range(limit):
        res = fetch(conn, topic, partition, offset, isolation)
        if res.error != kwire.NONE or not res.batches:
            break
        seen.extend(res.batches)
        offset = res.batches[-1].last_offset + 1
    assert res is not None
    return res, seen



# ------------------------------------------------------------ transaction version 2

API_END_TXN = 26
CONCURRENT_TRANSACTIONS = 51


def produce_v12(conn: kwire.Conn, topic: str, partition: int, data: bytes,
                transactional_id: str | None, acks: int = -1,
                timeout_ms: int = 10000) -> tuple[int, int]:
    """Produce v12 (transaction version 2: the leader adds the partition to the
    transaction) of one batch; returns (error_code, base_offset)."""
    records = cbytes(data)
    body = (cstr(transactional_id) + i16(acks) + i32(timeout_ms)
            + carray([cstr(topic) + carray([i32(partition) + records + TAGS]) + TAGS]) + TAGS)
    f = request(conn, kwire.API_PRODUCE, 12, body)

    def part():
        index, err, base = f.r.i32(), f.r.i16(), f.r.i64()
        f.r.i64()  # log append time
        f.r.i64()  # log start offset
        f.carray(lambda: (f.r.i32(), f.cstr(), f.tags()))
        f.cstr()  # error message
        f.tags()
        return index, err, base

    def topic_():
        name = f.cstr()
        parts = f.carray(part)
        f.tags()
        return name, parts

    topics = f.carray(topic_)
    _, parts = topics[0]
    _, err, base = parts[0]
    return err, base


def cbytes(data: bytes | None) -> bytes:
    """Compact (flexible-version) nullable bytes."""
    return uvarint(0) if data is None else uvarint(len(data) + 1) + data


def end_txn_v5(conn: kwire.Conn, transactional_id: str, producer_id: int, epoch: int,
               commit: bool) -> tuple[int, int, int]:
    """EndTxn v5 (transaction version 2); returns (error_code, producer_id, epoch): the
    producer id and epoch to go on with."""
    body = cstr(transactional_id) + i64(producer_id) + i16(epoch) + i8(1 if commit else 0) + TAGS
    f = request(conn, API_END_TXN, 5, body)
    f.r.i32()  # throttle
    return f.r.i16(), f.r.i64(), f.r.i16()


def find_txn_coordinator(conn: kwire.Conn, transactional_id: str, timeout: float = 60.0) -> None:
    """FindCoordinator v2 for a transactional id (Kafka creates __transaction_state on the
    first), retried until it answers NONE."""
    deadline = time.monotonic() + timeout
    while True:
        r = conn.request(10, 2, string(transactional_id) + i8(1))
        r.i32()  # throttle
        err = r.i16()
        if err == 0:
            return
        assert time.monotonic() < deadline, f"FindCoordinator kept answering {err}"
        time.sleep(0.1)
