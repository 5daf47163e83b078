package dev.weir.e2e;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * A (transactional) producer of the Java client driven line by line from stdin, speaking
 * the same protocol as tests/e2e/txn_client.py. Commands are TAB-separated; each gets one
 * JSON line on stdout, {"ok":"CMD",...} or {"error":"Class","message":"..","cmd":"CMD"}:
 *
 * <pre>
 * init                                  initTransactions()
 * begin                                 beginTransaction()
 * send   TOPIC PARTITION|- KEY VALUE    one record, waited for: "partition","offset"
 * batch  TOPIC PARTITION|- PREFIX N     N records PREFIX-i (key = value), then flush:
 *                                       "offsets":[[p,o],..] in send order
 * offsets GROUP TOPIC:P=O[,TOPIC:P=O].. sendOffsetsToTransaction(offsets, new
 *                                       ConsumerGroupMetadata(GROUP))
 * commit | abort | flush
 * close                                 close the producer (10 s) and exit
 * </pre>
 *
 * Properties come from --prop k=v (e.g. transactional.id, transaction.timeout.ms). Prints
 * {"ev":"ready"} once the producer exists. Exits by itself after --max-seconds (300).
 */
final class TxnProducer {
    private TxnProducer() {}

    private static final PrintStream OUT = new PrintStream(System.out, true, StandardCharsets.UTF_8);

    static int run(KafkaCli.Args a) throws Exception {
        Properties p = KafkaCli.base(a);
        p.setProperty("key.serializer", ByteArraySerializer.class.getName());
        p.setProperty("value.serializer", ByteArraySerializer.class.getName());
        p.setProperty("acks", "all");
        p.putAll(a.props);
        long maxSeconds = Long.parseLong(a.get("max-seconds", "300"));
        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep(TimeUnit.SECONDS.toMillis(maxSeconds));
            } catch (InterruptedException e) {
                return;
            }
            Runtime.getRuntime().halt(5);
        });
        watchdog.setDaemon(true);
        watchdog.start();

        KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p);
        OUT.println("{\"ev\":\"ready\"}");
        BufferedReader in =
                new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        boolean closed = false;
        while (!closed && (line = in.readLine()) != null) {
            if (line.isEmpty()) {
                continue;
            }
            String[] f = line.split("\t", -1);
            String cmd = f[0];
            try {
                String extra = "";
                switch (cmd) {
                    case "init" -> producer.initTransactions();
                    case "begin" -> producer.beginTransaction();
                    case "send" -> {
                        RecordMetadata md = producer.send(record(f[1], f[2], f[3], f[4])).get(120, TimeUnit.SECONDS);
                        extra = ",\"partition\":" + md.partition() + ",\"offset\":" + md.offset();
                    }
                    case "batch" -> {
                        int n = Integer.parseInt(f[4]);
                        List<Future<RecordMetadata>> fs = new ArrayList<>(n);
                        for (int i = 0; i < n; i++) {
                            String kv = f[3] + "-" + i;
                            fs.add(producer.send(record(f[1], f[2], kv, kv)));
                        }
                        producer.flush();
                        StringBuilder sb = new StringBuilder(",\"offsets\":[");
                        for (int i = 0; i < n; i++) {
                            RecordMetadata md = fs.get(i).get(120, TimeUnit.SECONDS);
                            sb.append(i == 0 ? "" : ",").append('[').append(md.partition()).append(',')
                                    .append(md.offset()).append(']');
                        }
                        extra = sb.append(']').toString();
                    }
                    case "offsets" -> {
                        Map<TopicPartition, OffsetAndMetadata> m = new HashMap<>();
                        for (String e : f[2].split(",")) {
                            int eq = e.lastIndexOf('=');
                            int colon = e.lastIndexOf(':', eq);
                            m.put(new TopicPartition(e.substring(0, colon),
                                            Integer.parseInt(e.substring(colon + 1, eq))),
                                    new OffsetAndMetadata(Long.parseLong(e.substring(eq + 1))));
                        }
                        producer.sendOffsetsToTransaction(m, new ConsumerGroupMetadata(f[1]));
                    }
                    case "commit" -> producer.commitTransaction();
                    case "abort" -> producer.abortTransaction();
                    case "flush" -> producer.flush();
                    case "close" -> {
                        producer.close(Duration.ofSeconds(10));
                        closed = true;
                    }
                    default -> throw new IllegalArgumentException("unknown command " + cmd);
                }
                OUT.println("{\"ok\":" + KafkaCli.jsonString(cmd) + extra + "}");
            } catch (Exception e) {
                Throwable c = rootCause(e);
                OUT.println("{\"error\":" + KafkaCli.jsonString(c.getClass().getSimpleName())
                        + ",\"message\":" + KafkaCli.jsonString(String.valueOf(c.getMessage()))
                        + ",\"outer\":" + KafkaCli.jsonString(e.getClass().getSimpleName())
                        + ",\"cmd\":" + KafkaCli.jsonString(cmd) + "}");
            }
        }
        if (!closed) {
            producer.close(Duration.ofSeconds(10));
        }
        return 0;
    }

    private static ProducerRecord<byte[], byte[]> record(String topic, String part, String key,
            String value) {
        Integer partition = part.equals("-") ? null : Integer.parseInt(part);
        return new ProducerRecord<>(topic, partition, key.getBytes(StandardCharsets.UTF_8),
                value.getBytes(StandardCharsets.UTF_8));
    }

    /** The reason behind ExecutionException and plain KafkaException wrappers. */
    static Throwable rootCause(Throwable e) {
        Throwable c = e;
        while (c.getCause() != null
                && (c instanceof ExecutionException || c.getClass() == KafkaException.class)) {
            c = c.getCause();
        }
        return c;
    }
}
