package dev.weir.e2e;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Properties;
import java.util.TreeSet;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.consumer.RoundRobinAssignor;
import org.apache.kafka.clients.consumer.SubscriptionPattern;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * One consumer-group member of the Java client, speaking the same JSON lines as
 * tests/e2e/group_member.py: {"ev":"assigned"|"revoked","parts":[..]} from the rebalance
 * listener, {"ev":"assignment","parts":[..],"tps":[["topic",p],..]} after each change,
 * {"ev":"rec","p","o","v"}, {"ev":"committed"}, {"ev":"closed"}, {"ev":"error","what"}.
 * Reads "commit" and "close" from stdin; closes by itself after --max-seconds (default
 * 300). With --pattern P (and --protocol consumer) it subscribes to the regular expression
 * P, which the broker matches (KIP-848 SubscribedTopicRegex), instead of the topic.
 */
final class GroupMember {
    private GroupMember() {}

    private static final PrintStream OUT = new PrintStream(System.out, true, StandardCharsets.UTF_8);

    private static synchronized void emit(String json) {
        OUT.println(json);
    }

    private static String tps(Collection<TopicPartition> tps) {
        TreeSet<String> s = new TreeSet<>();
        for (TopicPartition tp : tps) {
            s.add("[" + KafkaCli.jsonString(tp.topic()) + "," + tp.partition() + "]");
        }
        return "[" + String.join(",", s) + "]";
    }

    private static String assignment(Collection<TopicPartition> current) {
        return "{\"ev\":\"assignment\",\"parts\":" + parts(current) + ",\"tps\":" + tps(current) + "}";
    }

    private static String parts(Collection<TopicPartition> tps) {
        TreeSet<Integer> s = new TreeSet<>();
        for (TopicPartition tp : tps) {
            s.add(tp.partition());
        }
        return s.toString().replace(" ", "");
    }

    static int run(KafkaCli.Args a) throws Exception {
        Properties p = KafkaCli.base(a);
        p.setProperty("key.deserializer", ByteArrayDeserializer.class.getName());
        p.setProperty("value.deserializer", ByteArrayDeserializer.class.getName());
        p.setProperty("group.id", a.groups.get(0));
        p.setProperty("enable.auto.commit", "false");
        p.setProperty("auto.offset.reset", a.get("reset", "earliest"));
        if (a.get("protocol", "classic").equals("consumer")) {
            p.setProperty("group.protocol", "consumer");
        } else {
            String assignor = switch (a.get("assignor", "range")) {
                case "roundrobin" -> RoundRobinAssignor.class.getName();
                case "cooperative-sticky" -> CooperativeStickyAssignor.class.getName();
                default -> RangeAssignor.class.getName();
            };
            p.setProperty("partition.assignment.strategy", assignor);
            p.setProperty("session.timeout.ms", a.get("session-ms", "6000"));
            p.setProperty("heartbeat.interval.ms", "500");
        }
        if (a.single.containsKey("instance-id")) {
            p.setProperty("group.instance.id", a.get("instance-id", ""));
        }
        p.putAll(a.props);

        LinkedBlockingQueue<String> commands = new LinkedBlockingQueue<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader in =
                    new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null) {
                    commands.add(line.trim());
                }
            } catch (java.io.IOException e) {
                // stdin gone: treated like the test closing it
            }
            commands.add("close");
        });
        reader.setDaemon(true);
        reader.start();
        long deadline = System.nanoTime()
                + TimeUnit.SECONDS.toNanos(Long.parseLong(a.get("max-seconds", "300")));

        java.util.Set<TopicPartition> current = new java.util.HashSet<>();
        ConsumerRebalanceListener listener = new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> revoked) {
                if (revoked.isEmpty()) {
                    return;
                }
                emit("{\"ev\":\"revoked\",\"parts\":" + parts(revoked) + "}");
                current.removeAll(revoked);
                emit(assignment(current));
            }

            @Override
            public void onPartitionsLost(Collection<TopicPartition> lost) {
                onPartitionsRevoked(lost);
            }

            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> assigned) {
                if (assigned.isEmpty()) {
                    return;
                }
                emit("{\"ev\":\"assigned\",\"parts\":" + parts(assigned) + "}");
                current.addAll(assigned);
                emit(assignment(current));
            }
        };

        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
            if (a.single.containsKey("pattern")) {
                c.subscribe(new SubscriptionPattern(a.get("pattern", "")), listener);
            } else {
                c.subscribe(List.of(a.topic()), listener);
            }
            emit("{\"ev\":\"ready\"}");
            while (true) {
                String cmd = commands.poll();
                if (cmd == null && System.nanoTime() > deadline) {
                    cmd = "close";
                }
                if ("close".equals(cmd)) {
                    break;
                }
                if ("commit".equals(cmd)) {
                    try {
                        c.commitSync(Duration.ofSeconds(30));
                    } catch (RuntimeException e) {
                        emit("{\"ev\":\"error\",\"what\":" + KafkaCli.jsonString(e.toString()) + "}");
                    }
                    emit("{\"ev\":\"committed\"}");
                }
                try {
                    for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(100))) {
                        String v = r.value() == null ? "" : new String(r.value(), StandardCharsets.UTF_8);
                        emit("{\"ev\":\"rec\",\"p\":" + r.partition() + ",\"o\":" + r.offset()
                                + ",\"v\":" + KafkaCli.jsonString(v) + "}");
                    }
                } catch (RuntimeException e) {
                    emit("{\"ev\":\"error\",\"what\":" + KafkaCli.jsonString(e.toString()) + "}");
                }
            }
        }
        emit("{\"ev\":\"closed\"}");
        return 0;
    }
}
