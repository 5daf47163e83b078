package dev.weir.e2e;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * A small command-line front end to the official Java client (kafka-clients) for the
 * end-to-end tests. pytest runs it and parses its JSON-lines output.
 *
 * <pre>
 * produce  --bootstrap B --topic T [--prop k=v]...
 *          stdin: one record per line, TAB-separated fields:
 *            key  value  timestamp  partition  [header]...
 *          key/value: base64, or "-" for null; timestamp/partition: a number or "-";
 *          header: base64(name) ":" base64(value) (value "-" for null).
 *          stdout: per record, in input order: {"partition":P,"offset":O,"timestamp":T}
 *                  or {"error":"Class","message":"..."}; exit 3 if any record failed.
 * consume  --bootstrap B --topic T --count N [--partition P] [--offset O] [--timeout-ms MS]
 *          [--prop k=v]...   (no group: assign + seek; default: from the beginning)
 *          stdout: per record {"partition","offset","timestamp","timestampType","key",
 *                  "value","headers":[[name, base64|null],...]} (key/value base64|null);
 *          exit 0 when N records were read, 2 on timeout, 4 on a consumer error
 *          (printed as {"error":"Class","message":"..."}).
 * metadata --bootstrap B [--topic T]...
 *          stdout: {"clusterId":..,"controller":id,"brokers":[{"id","host","port"}],
 *                   "topics":{"t":partitionCount}}
 * group    --bootstrap B --topic T --group G [--protocol classic|consumer] [--assignor A]
 *          [--instance-id I] [--session-ms MS] [--reset earliest|latest] [--max-seconds S]
 *          a consumer-group member, like tests/e2e/group_member.py (see GroupMember).
 * share    --bootstrap B --group G --topic T [--mode implicit|explicit] ...
 *          a share group member (KIP-932, see ShareMember).
 * groups   list|describe|offsets|alter-offsets|delete-offsets|delete --bootstrap B
 *          [--group G]... the Admin client's group calls (see GroupAdmin).
 * configs  --action describe|alter --type topic|broker --name N ... the Admin client's
 *          describeConfigs / incrementalAlterConfigs (see ConfigAdmin).
 * cluster  --action reassign|reassignments|elect|logdirs ... the Admin client's partition
 *          moves, leader elections and log dirs (see ClusterAdmin).
 * </pre>
 */
public final class KafkaCli {
    private static final Base64.Encoder B64 = Base64.getEncoder();
    private static final Base64.Decoder B64D = Base64.getDecoder();

    private KafkaCli() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            usage();
        }
        Args a = new Args(args);
        BufferedWriter out =
                new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), 1 << 16);
        int rc;
        switch (args[0]) {
            case "produce" -> rc = produce(a, out);
            case "consume" -> rc = consume(a, out);
            case "metadata" -> rc = metadata(a, out);
            case "group" -> rc = GroupMember.run(a);
            case "share" -> rc = ShareMember.run(a);
            case "share-bench" -> rc = ShareBench.run(a, out);
            case "groups" -> rc = GroupAdmin.run(a, out);
            case "txn" -> rc = TxnProducer.run(a);
            case "txns" -> rc = TxnAdmin.run(a, out);
            case "configs" -> rc = ConfigAdmin.run(a, out);
            case "cluster" -> rc = ClusterAdmin.run(a, out);
            case "acls" -> rc = AclAdmin.run(a, out);
            case "users" -> rc = UserAdmin.run(a, out);
            default -> {
                usage();
                rc = 2;
            }
        }
        out.flush();
        System.exit(rc);
    }

    private static void usage() {
        System.err.println("usage: KafkaCli produce|consume|metadata|group|share|share-bench|groups|txn|txns|configs|cluster|acls|users --bootstrap B ...");
        System.exit(2);
    }

    /** Minimal option parser: --name value, repeatable --prop k=v. */
    static final class Args {
        final Map<String, String> single = new java.util.HashMap<>();
        final List<String> topics = new ArrayList<>();
        final List<String> groups = new ArrayList<>();
        final Properties props = new Properties();

        Args(String[] args) {
            for (int i = 1; i < args.length; i += 2) {
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException("missing value for " + args[i]);
                }
                String k = args[i];
                String v = args[i + 1];
                if (k.equals("--prop")) {
                    int eq = v.indexOf('=');
                    props.setProperty(v.substring(0, eq), v.substring(eq + 1));
                } else if (k.equals("--topic")) {
                    topics.add(v);
                } else if (k.equals("--group")) {
                    groups.add(v);
                } else {
                    single.put(k.substring(2), v);
                }
            }
        }

        String get(String k, String dflt) {
            return single.getOrDefault(k, dflt);
        }

        String topic() {
            if (topics.isEmpty()) {
                throw new IllegalArgumentException("--topic required");
            }
            return topics.get(0);
        }
    }

    static Properties base(Args a) {
        Properties p = new Properties();
        p.setProperty("bootstrap.servers", a.get("bootstrap", "127.0.0.1:9092"));
        p.setProperty("client.id", "weir-e2e-java");
        return p;
    }

    private static byte[] field(String s) {
        return s.equals("-") ? null : B64D.decode(s);
    }

    private static int produce(Args a, BufferedWriter out) throws Exception {
        Properties p = base(a);
        p.setProperty("key.serializer", ByteArraySerializer.class.getName());
        p.setProperty("value.serializer", ByteArraySerializer.class.getName());
        p.putAll(a.props);
        String topic = a.topic();
        List<Future<RecordMetadata>> futures = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            BufferedReader in =
                    new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8), 1 << 16);
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isEmpty()) {
                    continue;
                }
                String[] f = line.split("\t", -1);
                RecordHeaders headers = new RecordHeaders();
                for (int i = 4; i < f.length; i++) {
                    int c = f[i].indexOf(':');
                    String name = new String(B64D.decode(f[i].substring(0, c)), StandardCharsets.UTF_8);
                    headers.add(name, field(f[i].substring(c + 1)));
                }
                Long ts = f[2].equals("-") ? null : Long.parseLong(f[2]);
                Integer part = f[3].equals("-") ? null : Integer.parseInt(f[3]);
                ProducerRecord<byte[], byte[]> rec =
                        new ProducerRecord<>(topic, part, ts, field(f[0]), field(f[1]), headers);
                try {
                    futures.add(producer.send(rec));
                } catch (RuntimeException e) {
                    // send() itself may throw (e.g. the producer is in a fatal state): report
                    // it for this record like an asynchronous failure.
                    futures.add(CompletableFuture.failedFuture(e));
                }
            }
            producer.flush();
        }
        int rc = 0;
        for (Future<RecordMetadata> fut : futures) {
            try {
                RecordMetadata md = fut.get(120, TimeUnit.SECONDS);
                out.write("{\"partition\":" + md.partition() + ",\"offset\":" + md.offset()
                        + ",\"timestamp\":" + md.timestamp() + "}\n");
            } catch (ExecutionException e) {
                rc = 3;
                Throwable cause = e.getCause();
                // Report the root reason (e.g. UnsupportedVersionException), not the wrapper.
                while (cause instanceof KafkaException
                        && cause.getCause() != null
                        && cause.getClass() == KafkaException.class) {
                    cause = cause.getCause();
                }
                writeError(out, cause);
            }
        }
        return rc;
    }

    private static int consume(Args a, BufferedWriter out) throws Exception {
        Properties p = base(a);
        p.setProperty("key.deserializer", ByteArrayDeserializer.class.getName());
        p.setProperty("value.deserializer", ByteArrayDeserializer.class.getName());
        p.setProperty("enable.auto.commit", "false");
        p.setProperty("auto.offset.reset", "earliest");
        p.putAll(a.props);
        String topic = a.topic();
        long count = Long.parseLong(a.get("count", "1"));
        long deadline = System.currentTimeMillis() + Long.parseLong(a.get("timeout-ms", "60000"));
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
            List<TopicPartition> tps = new ArrayList<>();
            if (a.single.containsKey("partition")) {
                tps.add(new TopicPartition(topic, Integer.parseInt(a.get("partition", "0"))));
            } else {
                while (tps.isEmpty()) {
                    List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(10));
                    if (infos != null) {
                        for (PartitionInfo pi : infos) {
                            tps.add(new TopicPartition(topic, pi.partition()));
                        }
                    }
                    if (tps.isEmpty() && System.currentTimeMillis() > deadline) {
                        return 2;
                    }
                }
            }
            consumer.assign(tps);
            if (a.single.containsKey("offset")) {
                long off = Long.parseLong(a.get("offset", "0"));
                for (TopicPartition tp : tps) {
                    consumer.seek(tp, off);
                }
            } else {
                consumer.seekToBeginning(tps);
            }
            long seen = 0;
            StringBuilder sb = new StringBuilder(256);
            while (seen < count) {
                long left = deadline - System.currentTimeMillis();
                if (left <= 0) {
                    return 2;
                }
                ConsumerRecords<byte[], byte[]> recs;
                try {
                    recs = consumer.poll(Duration.ofMillis(Math.min(left, 1000)));
                } catch (RuntimeException e) {
                    writeError(out, e);
                    return 4;
                }
                for (ConsumerRecord<byte[], byte[]> r : recs) {
                    sb.setLength(0);
                    sb.append("{\"partition\":").append(r.partition());
                    sb.append(",\"offset\":").append(r.offset());
                    sb.append(",\"timestamp\":").append(r.timestamp());
                    sb.append(",\"timestampType\":\"").append(r.timestampType().name).append('"');
                    sb.append(",\"key\":").append(b64(r.key()));
                    sb.append(",\"value\":").append(b64(r.value()));
                    sb.append(",\"headers\":[");
                    boolean first = true;
                    for (Header h : r.headers()) {
                        if (!first) {
                            sb.append(',');
                        }
                        first = false;
                        sb.append('[').append(jsonString(h.key())).append(',').append(b64(h.value())).append(']');
                    }
                    sb.append("]}\n");
                    out.write(sb.toString());
                    seen++;
                }
            }
        }
        return 0;
    }

    private static int metadata(Args a, BufferedWriter out) throws Exception {
        Properties p = base(a);
        p.putAll(a.props);
        try (Admin admin = Admin.create(p)) {
            DescribeClusterResult dc = admin.describeCluster();
            String clusterId = dc.clusterId().get(60, TimeUnit.SECONDS);
            Node controller = dc.controller().get(60, TimeUnit.SECONDS);
            Collection<Node> nodes = dc.nodes().get(60, TimeUnit.SECONDS);
            StringBuilder sb = new StringBuilder();
            sb.append("{\"clusterId\":").append(jsonString(clusterId));
            sb.append(",\"controller\":").append(controller == null ? -1 : controller.id());
            sb.append(",\"brokers\":[");
            boolean first = true;
            for (Node n : nodes) {
                if (!first) {
                    sb.append(',');
                }
                first = false;
                sb.append("{\"id\":").append(n.id()).append(",\"host\":").append(jsonString(n.host()));
                sb.append(",\"port\":").append(n.port()).append('}');
            }
            sb.append("],\"topics\":{");
            if (!a.topics.isEmpty()) {
                Map<String, TopicDescription> d =
                        admin.describeTopics(a.topics).allTopicNames().get(60, TimeUnit.SECONDS);
                first = true;
                for (Map.Entry<String, TopicDescription> e : d.entrySet()) {
                    if (!first) {
                        sb.append(',');
                    }
                    first = false;
                    sb.append(jsonString(e.getKey())).append(':').append(e.getValue().partitions().size());
                }
            }
            sb.append("}}\n");
            out.write(sb.toString());
        }
        return 0;
    }

    static void writeError(BufferedWriter out, Throwable t) throws java.io.IOException {
        out.write("{\"error\":" + jsonString(t.getClass().getSimpleName()) + ",\"message\":"
                + jsonString(String.valueOf(t.getMessage())) + "}\n");
    }

    static String b64(byte[] b) {
        return b == null ? "null" : "\"" + B64.encodeToString(b) + "\"";
    }

    static String jsonString(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder sb = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        return sb.append('"').toString();
    }
}
