"""Self-tests of the suite's own codecs (no broker): CRC32C, varints, murmur2."""

import kwire
from helpers import murmur2, murmur2_partition


def test_crc32c_known_vectors():
    # RFC 3720 B.4 check value and all-zero/all-0xff 32-byte vectors.
    assert kwire.crc32c(b"123456789") == 0xE3069283
    assert kwire.crc32c(bytes(32)) == 0x8A9136AA
    assert kwire.crc32c(b"\xff" * 32) == 0x62A8AB43
    assert kwire.crc32c(b"") == 0


def test_varint_roundtrip():
    for v in [0, 1, -1, 63, -64, 64, 300, -300, 2**31 - 1, -(2**31), 2**62, -(2**63)]:
        r = kwire.Reader(kwire.varint(v))
        assert r.varint() == v
        assert r.remaining() == 0
    assert kwire.varint(-1) == b"\x01"
    assert kwire.varint(1) == b"\x02"


def test_record_batch_parses_back():
    recs = [kwire.Record(b"k", b"v", [("h", b"1"), ("h", None)]), kwire.Record(None, None)]
    batch = kwire.record_batch(recs, 1_700_000_000_000)
    [info] = kwire.parse_batches(batch)
    assert info.magic == 2 and info.crc_ok and info.compression == 0
    assert [(r.key, r.value, r.headers) for r in info.records] == [
        (b"k", b"v", [("h", b"1"), ("h", None)]), (None, None, [])]
    [bad] = kwire.parse_batches(kwire.record_batch(recs, 0, corrupt_crc=True))
    assert not bad.crc_ok


def test_murmur2_matches_kafka_vectors():
    # Kafka's UtilsTest.testMurmur2 vectors, checked against kafka-clients 4.3.1.
    cases = {
        b"21": -973932308,
        b"foobar": -790332482,
        b"a-little-bit-long-string": -985981536,
        b"a-little-bit-longer-string": -1486304829,
        b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
        b"abc": 479470107,
        b"": 275646681,
        b"key-0": 29210041,
        "éü".encode(): -199034823,
    }
    for data, want in cases.items():
        assert murmur2(data) == want, data


def test_murmur2_partition_matches_java():
    # Utils.toPositive(Utils.murmur2(key)) % 7 from kafka-clients 4.3.1.
    want = {b"21": 3, b"foobar": 0, b"a-little-bit-long-string": 1, b"abc": 4, b"": 2,
            b"key-0": 0, "éü".encode(): 1}
    for key, p in want.items():
        assert murmur2_partition(key, 7) == p, key
