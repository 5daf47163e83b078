"""A (transactional) producer as a process of its own, driven line by line from stdin, so a
test can run several at once, interleave them, and kill -9 one with a transaction open.

    python txn_client.py '<json options>'

Options: client ("confluent" | "kafka-python"), bootstrap, props (producer properties in
Java/librdkafka spelling, e.g. {"transactional.id": "t", "transaction.timeout.ms": 10000}),
max_seconds (default 300: the process exits by itself after that).

The protocol is the one of the Java client's `KafkaCli txn` (TxnProducer.java): commands
are TAB-separated lines, each answered by one JSON line, {"ok": CMD, ...} or
{"error": NAME, "message": ..., "cmd": CMD} where NAME is librdkafka's error name
(e.g. "_FENCED", "PRODUCER_FENCED") or kafka-python's exception class.

    init | begin | commit | abort | flush | close
    send    TOPIC PARTITION|- KEY VALUE          -> "partition", "offset" (waited for)
    batch   TOPIC PARTITION|- PREFIX N           -> "offsets": [[p, o], ...]
    offsets GROUP TOPIC:P=O[,TOPIC:P=O]...       sendOffsetsToTransaction
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback

TIMEOUT = 60.0


def emit(**ev) -> None:
    sys.stdout.write(json.dumps(ev) + "\n")
    sys.stdout.flush()


def parse_offsets(spec: str) -> list[tuple[str, int, int]]:
    out = []
    for e in spec.split(","):
        tp, off = e.rsplit("=", 1)
        topic, part = tp.rsplit(":", 1)
        out.append((topic, int(part), int(off)))
    return out


class ClientError(Exception):
    def __init__(self, name: str, message: str, **extra):
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message
        self.extra = extra


class ConfluentTxn:
    def __init__(self, bootstrap: str, props: dict):
        from confluent_kafka import Producer

        conf = {"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                "client.id": "weir-e2e-confluent-txn"}
        conf.update(props)
        self.p = Producer(conf)
        self.bootstrap = bootstrap

    @staticmethod
    def wrap(e: Exception) -> ClientError:
        from confluent_kafka import KafkaException

        if isinstance(e, KafkaException) and e.args and hasattr(e.args[0], "name"):
            err = e.args[0]
            return ClientError(err.name(), err.str(), fatal=err.fatal(),
                               abortable=err.txn_requires_abort(), retriable=err.retriable())
        return ClientError(type(e).__name__, str(e))

    def _produce(self, topic, part, pairs) -> list[tuple[int, int]]:
        results: list = [None] * len(pairs)

        def cb(i):
            def done(err, m):
                results[i] = err if err is not None else (m.partition(), m.offset())
            return done

        for i, (k, v) in enumerate(pairs):
            kw = {} if part == "-" else {"partition": int(part)}
            while True:
                try:
                    self.p.produce(topic, key=k.encode(), value=v.encode(), on_delivery=cb(i),
                                   **kw)
                    break
                except BufferError:
                    self.p.poll(0.05)
        left = self.p.flush(TIMEOUT)
        if left:
            raise ClientError("_TIMED_OUT", f"{left} records undelivered after {TIMEOUT}s")
        for r in results:
            if not isinstance(r, tuple):
                raise ClientError(r.name(), r.str(), fatal=r.fatal(),
                                  abortable=r.txn_requires_abort())
        return results

    def run(self, f: list[str]) -> dict:
        cmd = f[0]
        if cmd == "init":
            self.p.init_transactions(TIMEOUT)
        elif cmd == "begin":
            self.p.begin_transaction()
        elif cmd == "send":
            [(p, o)] = self._produce(f[1], f[2], [(f[3], f[4])])
            return {"partition": p, "offset": o}
        elif cmd == "batch":
            n = int(f[4])
            pairs = [(f"{f[3]}-{i}", f"{f[3]}-{i}") for i in range(n)]
            return {"offsets": [list(x) for x in self._produce(f[1], f[2], pairs)]}
        elif cmd == "offsets":
            from confluent_kafka import Consumer, TopicPartition

            # The group's metadata as a consumer outside the group has it (generation -1,
            # no member id), like the Java client's new ConsumerGroupMetadata(group).
            c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f[1],
                          "enable.auto.commit": False})
            try:
                md = c.consumer_group_metadata()
            finally:
                c.close()
            tps = [TopicPartition(t, p, o) for t, p, o in parse_offsets(f[2])]
            self.p.send_offsets_to_transaction(tps, md, TIMEOUT)
        elif cmd == "commit":
            self.p.commit_transaction(TIMEOUT)
        elif cmd == "abort":
            self.p.abort_transaction(TIMEOUT)
        elif cmd == "flush":
            self.p.flush(TIMEOUT)
        elif cmd == "close":
            self.p.flush(10)
        else:
            raise ValueError(f"unknown command {cmd}")
        return {}


def _kp_conf(props: dict) -> dict:
    out = {}
    for k, v in props.items():
        key = k.replace(".", "_")
        if key == "transaction_timeout_ms":
            v = int(v)
        out[key] = v
    return out


class KafkaPythonTxn:
    def __init__(self, bootstrap: str, props: dict):
        from kafka import KafkaProducer

        conf = {"bootstrap_servers": bootstrap, "acks": "all", "linger_ms": 5,
                "client_id": "weir-e2e-kafka-python-txn", "request_timeout_ms": 30000,
                "max_block_ms": int(TIMEOUT * 1000)}
        conf.update(_kp_conf(props))
        self.p = KafkaProducer(**conf)

    @staticmethod
    def wrap(e: Exception) -> ClientError:
        return ClientError(type(e).__name__, str(e))

    def _send(self, topic, part, pairs) -> list[tuple[int, int]]:
        futs = [self.p.send(topic, key=k.encode(), value=v.encode(),
                            partition=None if part == "-" else int(part)) for k, v in pairs]
        self.p.flush(timeout=TIMEOUT)
        out = []
        for fut in futs:
            md = fut.get(timeout=TIMEOUT)
            out.append((md.partition, md.offset))
        return out

    def run(self, f: list[str]) -> dict:
        from kafka.structs import OffsetAndMetadata, TopicPartition

        cmd = f[0]
        if cmd == "init":
            self.p.init_transactions()
        elif cmd == "begin":
            self.p.begin_transaction()
        elif cmd == "send":
            [(p, o)] = self._send(f[1], f[2], [(f[3], f[4])])
            return {"partition": p, "offset": o}
        elif cmd == "batch":
            n = int(f[4])
            pairs = [(f"{f[3]}-{i}", f"{f[3]}-{i}") for i in range(n)]
            return {"offsets": [list(x) for x in self._send(f[1], f[2], pairs)]}
        elif cmd == "offsets":
            offsets = {TopicPartition(t, p): OffsetAndMetadata(o, "", -1)
                       for t, p, o in parse_offsets(f[2])}
            self.p.send_offsets_to_transaction(offsets, f[1])
        elif cmd == "commit":
            self.p.commit_transaction()
        elif cmd == "abort":
            self.p.abort_transaction()
        elif cmd == "flush":
            self.p.flush(timeout=TIMEOUT)
        elif cmd == "close":
            self.p.close(timeout=10)
        else:
            raise ValueError(f"unknown command {cmd}")
        return {}


def main() -> None:
    o = json.loads(sys.argv[1])
    # Exit by ourselves after max_seconds, whatever the test does.
    limit = float(o.get("max_seconds", 300))
    threading.Thread(target=lambda: (time.sleep(limit), os._exit(5)), daemon=True).start()
    impl = {"confluent": ConfluentTxn, "kafka-python": KafkaPythonTxn}[o["client"]]
    client = impl(o["bootstrap"], o.get("props", {}))
    emit(ev="ready")
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line:
            continue
        f = line.split("\t")
        try:
            try:
                extra = client.run(f)
            except ClientError:
                raise
            except Exception as e:  # noqa: BLE001 - the client's error is the outcome
                raise client.wrap(e) from e
            emit(ok=f[0], **extra)
        except ClientError as e:
            emit(error=e.name, message=e.message, cmd=f[0], **e.extra)
        except Exception:  # noqa: BLE001
            emit(error="internal", message=traceback.format_exc(), cmd=f[0])
        if f[0] == "close":
            break
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
