"""The share-group requests (KIP-932) by hand, for tests that send what no real client
sends: ShareGroupHeartbeat v1, ShareFetch v1 and ShareAcknowledge v1, flexible versions
(compact strings and arrays, empty tagged fields, request header v2). Built on kwire's
connection; stdlib only."""

from __future__ import annotations

import base64
import struct
import uuid

from kwire import Conn, Reader, i8, i16, i32, i64

SHARE_FETCH = 78
SHARE_ACKNOWLEDGE = 79
SHARE_GROUP_HEARTBEAT = 76

INVALID_REQUEST = 42
UNKNOWN_MEMBER_ID = 25
FENCED_MEMBER_EPOCH = 110
INVALID_RECORD_STATE = 121
SHARE_SESSION_NOT_FOUND = 122
INVALID_SHARE_SESSION_EPOCH = 123

ACCEPT, RELEASE, REJECT = 1, 2, 3


def uvarint(v: int) -> bytes:
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def cstr(s: str | None) -> bytes:
    if s is None:
        return uvarint(0)
    b = s.encode()
    return uvarint(len(b) + 1) + b


def carray(items: list[bytes] | None) -> bytes:
    if items is None:
        return uvarint(0)
    return uvarint(len(items) + 1) + b"".join(items)


TAGS = uvarint(0)


class FlexReader:
    """Reads flexible-version fields off a kwire Reader."""

    def __init__(self, r: Reader):
        self.r = r

    def uvarint(self) -> int:
        v = shift = 0
        while True:
            b = self.r.take(1)[0]
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                return v
            shift += 7

    def cstr(self) -> str | None:
        n = self.uvarint()
        return None if n == 0 else self.r.take(n - 1).decode()

    def cbytes(self) -> bytes | None:
        n = self.uvarint()
        return None if n == 0 else self.r.take(n - 1)

    def carray(self, item) -> list:
        n = self.uvarint()
        return [] if n == 0 else [item() for _ in range(n - 1)]

    def tags(self) -> None:
        for _ in range(self.uvarint()):
            self.uvarint()
            self.r.take(self.uvarint())


def request(c: Conn, api: int, version: int, body: bytes) -> FlexReader:
    """Sends with request header v2 and reads past response header v1."""
    c.corr = getattr(c, "corr", 0) + 1
    client = c.client_id.encode()
    header = i16(api) + i16(version) + i32(c.corr) + i16(len(client)) + client + TAGS
    c.send_raw(struct.pack(">i", len(header) + len(body)) + header + body)
    corr, r = c.recv_response()
    assert corr == c.corr, (corr, c.corr)
    f = FlexReader(r)
    f.tags()
    return f


def heartbeat(c: Conn, group: str, member: str, epoch: int, topics: list[str] | None) -> dict:
    body = (cstr(group) + cstr(member) + i32(epoch) + cstr(None)
            + carray(None if topics is None else [cstr(t) for t in topics]) + TAGS)
    f = request(c, SHARE_GROUP_HEARTBEAT, 1, body)
    out = {"throttle": f.r.i32(), "error": f.r.i16(), "message": f.cstr(),
           "member_id": f.cstr(), "epoch": f.r.i32(), "interval": f.r.i32()}
    marker = f.r.i8()  # nullable struct: -1 null, 1 present
    parts = []
    if marker >= 0:
        def tp():
            tid = f.r.take(16)
            ps = f.carray(f.r.i32)
            f.tags()
            return (tid, ps)
        parts = f.carray(tp)
        f.tags()
    out["assignment"] = parts
    return out


def ack_batches(batches: list[tuple[int, int, list[int]]]) -> bytes:
    return carray([i64(a) + i64(b) + carray([i8(t) for t in types]) + TAGS
                   for a, b, types in batches])


def share_fetch(c: Conn, group: str, member: str, epoch: int, topic_id: bytes,
                partition: int = 0, acks: list[tuple[int, int, list[int]]] = (),
                max_wait_ms: int = 5000, max_records: int = 100) -> dict:
    part = i32(partition) + ack_batches(list(acks)) + TAGS
    body = (cstr(group) + cstr(member) + i32(epoch) + i32(max_wait_ms) + i32(1)
            + i32(1 << 20) + i32(max_records) + i32(max_records)
            + carray([topic_id + carray([part]) + TAGS]) + carray([]) + TAGS)
    f = request(c, SHARE_FETCH, 1, body)
    out = {"throttle": f.r.i32(), "error": f.r.i16(), "message": f.cstr(),
           "lock_ms": f.r.i32(), "partitions": {}}

    def partition_data():
        p = {"index": f.r.i32(), "error": f.r.i16(), "message": f.cstr(),
             "ack_error": f.r.i16(), "ack_message": f.cstr()}
        f.r.i32(), f.r.i32()  # current leader id and epoch
        f.tags()
        p["records"] = f.cbytes()

        def acquired():
            a = (f.r.i64(), f.r.i64(), f.r.i16())
            f.tags()
            return a
        p["acquired"] = f.carray(acquired)
        f.tags()
        return p

    def topic():
        f.r.take(16)
        for p in f.carray(partition_data):
            out["partitions"][p["index"]] = p
        f.tags()
    f.carray(topic)
    return out


def share_acknowledge(c: Conn, group: str, member: str, epoch: int, topic_id: bytes,
                      acks: list[tuple[int, int, list[int]]], partition: int = 0) -> dict:
    part = i32(partition) + ack_batches(acks) + TAGS
    body = (cstr(group) + cstr(member) + i32(epoch)
            + carray([topic_id + carray([part]) + TAGS]) + TAGS)
    f = request(c, SHARE_ACKNOWLEDGE, 1, body)
    out = {"throttle": f.r.i32(), "error": f.r.i16(), "message": f.cstr(), "partitions": {}}

    def partition_data():
        p = {"index": f.r.i32(), "error": f.r.i16(), "message": f.cstr()}
        f.r.i32(), f.r.i32()
        f.tags()
        f.tags()
        return p

    def topic():
        f.r.take(16)
        for p in f.carray(partition_data):
            out["partitions"][p["index"]] = p
        f.tags()
    f.carray(topic)
    return out


def find_coordinator(c: Conn, group: str) -> int:
    """FindCoordinator v2 for a group (which also makes Kafka create __consumer_offsets);
    its error code."""
    from kwire import string

    r = c.request(10, 2, string(group) + i8(0))
    r.i32()
    return r.i16()


def new_member_id() -> str:
    return uuid.uuid4().hex[:22]


FIND_COORDINATOR = 10
WRITE_SHARE_GROUP_STATE = 85
ARCHIVING = 3  # Weir's delivery state for a record waiting for its dead-letter copy


def find_share_coordinator(c: Conn, group: str, topic_id: bytes, partition: int,
                           key: str | None = None) -> dict:
    """FindCoordinator v6 with key type 2 (share): the coordinator of one share-partition's
    state (creating `__share_group_state` on first use); `key` replaces the proper one."""
    tid = base64.urlsafe_b64encode(topic_id).rstrip(b"=").decode()
    body = i8(2) + carray([cstr(key or f"{group}:{tid}:{partition}")]) + TAGS
    f = request(c, FIND_COORDINATOR, 6, body)
    f.r.i32()

    def coordinator():
        out = {"key": f.cstr(), "node": f.r.i32(), "host": f.cstr(), "port": f.r.i32(),
               "error": f.r.i16(), "message": f.cstr()}
        f.tags()
        return out
    return f.carray(coordinator)[0]


def write_share_state(c: Conn, group: str, topic_id: bytes, partition: int, start: int,
                      batches: list[tuple[int, int, int, int]], leader_epoch: int = 0,
                      state_epoch: int = 0,
                      dead_letter_mark: tuple[int, int] | None = None) -> int:
    """WriteShareGroupState v0, as a share-partition leader sends it to the share
    coordinator: batches of (first, last, state, delivery count), and optionally Weir's
    dead-letter mark (partition, offset) in its tagged fields. The partition's error code."""
    tags = TAGS
    if dead_letter_mark is not None:
        p, o = dead_letter_mark
        tags = (uvarint(2) + uvarint(10000) + uvarint(4) + i32(p)
                + uvarint(10001) + uvarint(8) + i64(o))
    part = (i32(partition) + i32(state_epoch) + i32(leader_epoch) + i64(start)
            + carray([i64(a) + i64(b) + i8(s) + i16(n) + TAGS for a, b, s, n in batches])
            + tags)
    body = cstr(group) + carray([topic_id + carray([part]) + TAGS]) + TAGS
    f = request(c, WRITE_SHARE_GROUP_STATE, 0, body)
    errors = []

    def partition_result():
        f.r.i32()
        errors.append(f.r.i16())
        f.cstr()
        f.tags()

    def topic():
        f.r.take(16)
        f.carray(partition_result)
        f.tags()
    f.carray(topic)
    return errors[0]
