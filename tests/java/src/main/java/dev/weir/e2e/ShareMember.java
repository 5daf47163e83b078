package dev.weir.e2e;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * One share group member (KIP-932) of the Java client, as a process of its own so a test can
 * run several and kill -9 them. Writes JSON lines: {"ev":"ready"}, {"ev":"rec","p","o","v",
 * "dc":deliveryCount,"ack":"accept"|"release"|"reject"|"none","t":epochMs} per record handed out,
 * {"ev":"committed","n"} after each commitSync of explicit acknowledgements,
 * {"ev":"error","what"}, {"ev":"closed"}. Reads "close" and "hold" (stop polling, keep the
 * records it holds) from stdin; closes by itself after --max-seconds (default 300).
 *
 * <p>--mode implicit (default) acknowledges every record by the next poll; --mode explicit
 * acknowledges each record as --release V1,V2 / --reject V3 say (ACCEPT otherwise) and
 * commits them with commitSync. --hold-values V stops polling once a record with that value
 * arrives (its acquisition lock then runs out unless the process is killed first).
 * --delay-ms D sleeps after each poll that returned records, as a slow worker would.
 * --renew-values V (explicit mode) renews the lock of a record with that value
 * --renew-times N times (default 3): each time the record is handed out it waits
 * --renew-every-ms M (default 1000), then acknowledges it with RENEW and commits, writing
 * {"ev":"renewed","o","error":null|name}; the client hands a renewed record out again, and
 * after the last renewal it is acknowledged as the other options say.
 */
final class ShareMember {
    private ShareMember() {}

    private static final PrintStream OUT = new PrintStream(System.out, true, StandardCharsets.UTF_8);

    private static synchronized void emit(String json) {
        OUT.println(json);
    }

    private static Set<String> list(KafkaCli.Args a, String key) {
        String v = a.get(key, "");
        return v.isEmpty() ? Set.of() : new HashSet<>(Arrays.asList(v.split(",")));
    }

    static int run(KafkaCli.Args a) throws Exception {
        Properties p = KafkaCli.base(a);
        p.setProperty("key.deserializer", ByteArrayDeserializer.class.getName());
        p.setProperty("value.deserializer", ByteArrayDeserializer.class.getName());
        p.setProperty("group.id", a.groups.get(0));
        boolean explicit = a.get("mode", "implicit").equals("explicit");
        p.setProperty("share.acknowledgement.mode", explicit ? "explicit" : "implicit");
        p.putAll(a.props);
        Set<String> release = list(a, "release");
        Set<String> reject = list(a, "reject");
        Set<String> holdOn = list(a, "hold-values");
        Set<String> renew = list(a, "renew-values");
        int renewTimes = Integer.parseInt(a.get("renew-times", "3"));
        long renewEveryMs = Long.parseLong(a.get("renew-every-ms", "1000"));
        java.util.Map<Long, Integer> renewals = new java.util.HashMap<>();
        long delayMs = Long.parseLong(a.get("delay-ms", "0"));

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

        boolean holding = false;
        try (KafkaShareConsumer<byte[], byte[]> c = new KafkaShareConsumer<>(p)) {
            c.subscribe(List.of(a.topic()));
            emit("{\"ev\":\"ready\"}");
            while (true) {
                String cmd = holding ? commands.poll(100, TimeUnit.MILLISECONDS) : commands.poll();
                if (cmd == null && System.nanoTime() > deadline) {
                    cmd = "close";
                }
                if ("close".equals(cmd)) {
                    break;
                }
                if ("hold".equals(cmd)) {
                    holding = true;
                }
                if (holding) {
                    continue;
                }
                try {
                    int n = 0;
                    int got = 0;
                    for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(100))) {
                        got++;
                        String v = r.value() == null ? "" : new String(r.value(), StandardCharsets.UTF_8);
                        String ack = "none";
                        if (holdOn.contains(v)) {
                            holding = true;
                        } else if (explicit && renew.contains(v)
                                && renewals.getOrDefault(r.offset(), 0) < renewTimes) {
                            renewals.merge(r.offset(), 1, Integer::sum);
                            renewLock(c, r, renewEveryMs);
                            continue;
                        } else if (explicit) {
                            AcknowledgeType t = release.contains(v) ? AcknowledgeType.RELEASE
                                    : reject.contains(v) ? AcknowledgeType.REJECT : AcknowledgeType.ACCEPT;
                            c.acknowledge(r, t);
                            ack = t.toString().toLowerCase();
                            n++;
                        } else {
                            ack = "accept";
                        }
                        emit("{\"ev\":\"rec\",\"p\":" + r.partition() + ",\"o\":" + r.offset()
                                + ",\"v\":" + KafkaCli.jsonString(v)
                                + ",\"dc\":" + r.deliveryCount().map(String::valueOf).orElse("null")
                                + ",\"ack\":\"" + ack + "\",\"t\":" + System.currentTimeMillis() + "}");
                    }
                    if (delayMs > 0 && got > 0) {
                        Thread.sleep(delayMs);
                    }
                    if (explicit && n > 0 && !holding) {
                        c.commitSync(Duration.ofSeconds(30));
                        emit("{\"ev\":\"committed\",\"n\":" + n + "}");
                    }
                } catch (RuntimeException e) {
                    emit("{\"ev\":\"error\",\"what\":" + KafkaCli.jsonString(e.toString()) + "}");
                }
            }
        }
        emit("{\"ev\":\"closed\"}");
        return 0;
    }

    /** Waits {@code everyMs}, then renews the acquisition lock of {@code r}. */
    private static void renewLock(KafkaShareConsumer<byte[], byte[]> c,
            ConsumerRecord<byte[], byte[]> r, long everyMs) throws InterruptedException {
        Thread.sleep(everyMs);
        c.acknowledge(r, AcknowledgeType.RENEW);
        String error = "null";
        for (var e : c.commitSync(Duration.ofSeconds(30)).values()) {
            if (e.isPresent()) {
                error = KafkaCli.jsonString(e.get().getClass().getSimpleName());
            }
        }
        emit("{\"ev\":\"renewed\",\"o\":" + r.offset() + ",\"error\":" + error + "}");
    }
}
