package dev.weir.e2e;

import java.io.BufferedWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Share group benchmarks with KafkaShareConsumer (KIP-932), one JSON line each:
 *
 * <pre>
 * --mode throughput --consumers C --records N   produce N 100-byte records to partition 0
 *     (acks=all, batched), then C share consumers (implicit acknowledgement, one thread each)
 *     take them; {"consumers","records","seconds","rate"} from the first poll to the last
 *     record, a bounded wait (--max-seconds, default 120).
 * --mode redelivery --rounds R   one explicit consumer; per round one record is produced,
 *     RELEASEd on its first delivery and timed until it comes back: {"rounds","p50_ms",
 *     "p99_ms","max_ms"}.
 * </pre>
 *
 * The group must start at the earliest offset (share.auto.offset.reset=earliest).
 */
final class ShareBench {
    private ShareBench() {}

    private static Properties consumerProps(KafkaCli.Args a, boolean explicit) {
        Properties p = KafkaCli.base(a);
        p.setProperty("key.deserializer", ByteArrayDeserializer.class.getName());
        p.setProperty("value.deserializer", ByteArrayDeserializer.class.getName());
        p.setProperty("group.id", a.groups.get(0));
        p.setProperty("share.acknowledgement.mode", explicit ? "explicit" : "implicit");
        p.putAll(a.props);
        return p;
    }

    private static KafkaProducer<byte[], byte[]> producer(KafkaCli.Args a) {
        Properties p = KafkaCli.base(a);
        p.setProperty("key.serializer", ByteArraySerializer.class.getName());
        p.setProperty("value.serializer", ByteArraySerializer.class.getName());
        p.setProperty("acks", "all");
        p.setProperty("linger.ms", "5");
        p.setProperty("batch.size", "65536");
        return new KafkaProducer<>(p);
    }

    static int run(KafkaCli.Args a, BufferedWriter out) throws Exception {
        String json = switch (a.get("mode", "throughput")) {
            case "throughput" -> throughput(a);
            case "redelivery" -> redelivery(a);
            default -> throw new IllegalArgumentException("unknown --mode");
        };
        out.write(json);
        out.newLine();
        return 0;
    }

    private static String throughput(KafkaCli.Args a) throws Exception {
        int consumers = Integer.parseInt(a.get("consumers", "1"));
        long records = Long.parseLong(a.get("records", "100000"));
        long maxNanos = TimeUnit.SECONDS.toNanos(Long.parseLong(a.get("max-seconds", "120")));
        byte[] value = new byte[100];
        try (KafkaProducer<byte[], byte[]> p = producer(a)) {
            for (long i = 0; i < records; i++) {
                p.send(new ProducerRecord<>(a.topic(), 0, null, value));
            }
            p.flush();
        }
        AtomicLong got = new AtomicLong();
        AtomicLong first = new AtomicLong(0);
        AtomicLong last = new AtomicLong(0);
        long deadline = System.nanoTime() + maxNanos;
        List<Thread> threads = new ArrayList<>();
        for (int c = 0; c < consumers; c++) {
            Thread t = new Thread(() -> {
                try (KafkaShareConsumer<byte[], byte[]> sc = new KafkaShareConsumer<>(consumerProps(a, false))) {
                    sc.subscribe(List.of(a.topic()));
                    while (got.get() < records && System.nanoTime() < deadline) {
                        int n = sc.poll(Duration.ofMillis(100)).count();
                        if (n > 0) {
                            first.compareAndSet(0, System.nanoTime());
                            if (got.addAndGet(n) >= records) {
                                last.compareAndSet(0, System.nanoTime());
                            }
                        }
                    }
                    sc.commitSync(Duration.ofSeconds(30));
                }
            });
            t.start();
            threads.add(t);
        }
        for (Thread t : threads) {
            t.join();
        }
        long end = last.get() == 0 ? System.nanoTime() : last.get();
        double secs = (end - first.get()) / 1e9;
        return "{\"consumers\":" + consumers + ",\"records\":" + got.get() + ",\"seconds\":" + secs
                + ",\"rate\":" + (got.get() / Math.max(secs, 1e-9)) + "}";
    }

    private static String redelivery(KafkaCli.Args a) throws Exception {
        int rounds = Integer.parseInt(a.get("rounds", "50"));
        long[] millis = new long[rounds];
        try (KafkaProducer<byte[], byte[]> p = producer(a);
                KafkaShareConsumer<byte[], byte[]> sc = new KafkaShareConsumer<>(consumerProps(a, true))) {
            sc.subscribe(List.of(a.topic()));
            for (int r = 0; r < rounds; r++) {
                String v = "round-" + r;
                p.send(new ProducerRecord<>(a.topic(), 0, null, v.getBytes())).get();
                long released = 0;
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                boolean back = false;
                while (!back && System.nanoTime() < deadline) {
                    for (ConsumerRecord<byte[], byte[]> rec : sc.poll(Duration.ofMillis(50))) {
                        boolean mine = new String(rec.value()).equals(v);
                        if (mine && rec.deliveryCount().orElse((short) 1) == 1) {
                            sc.acknowledge(rec, AcknowledgeType.RELEASE);
                            sc.commitSync(Duration.ofSeconds(30));
                            released = System.nanoTime();
                        } else {
                            if (mine) {
                                millis[r] = (System.nanoTime() - released) / 1_000_000;
                                back = true;
                            }
                            sc.acknowledge(rec, AcknowledgeType.ACCEPT);
                        }
                    }
                    sc.commitSync(Duration.ofSeconds(30));
                }
                if (!back) {
                    throw new IllegalStateException("record " + v + " did not come back");
                }
            }
        }
        long[] sorted = millis.clone();
        Arrays.sort(sorted);
        return "{\"rounds\":" + rounds + ",\"p50_ms\":" + sorted[rounds / 2]
                + ",\"p99_ms\":" + sorted[Math.min(rounds - 1, (int) (rounds * 0.99))]
                + ",\"max_ms\":" + sorted[rounds - 1] + "}";
    }
}
