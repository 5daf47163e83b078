package dev.weir.e2e;

import java.io.BufferedWriter;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsSpec;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.TopicPartition;

/**
 * The Admin client's consumer-group calls, one per --action, each printing one JSON line:
 *
 * <pre>
 * list                                  [{"group","type","state","protocol"}]
 * describe --group G...                 {"G":{"state","type","assignor","coordinator",
 *                                         "members":[{"member","instance","client",
 *                                         "parts":{"topic":[p..]}}]} | {"error":..}}
 * offsets --group G...                  one request for all groups (batched OffsetFetch):
 *                                       {"G":{"topic:p":offset} | {"error":..}}
 * alter-offsets --group G --topic T --offsets 0=5,1=7    {"ok":true} | {"error":..}
 * delete-offsets --group G --topic T --partitions 0,1    {"ok":true} | {"error":..}
 * delete --group G...                   {"G":"ok" | {"error":..}}
 * share-describe --group G...           {"G":{"state","epoch","members":[{"member","client",
 *                                         "parts":{"topic":[p..]}}]} | {"error":..}}
 * share-offsets --group G               {"topic:p":{"start":o,"lag":l|null}} | {"error":..}
 * share-alter-offsets --group G --topic T --offsets 0=5,1=7   {"ok":true} | {"error":..}
 * share-delete-offsets --group G --topic T                    {"ok":true} | {"error":..}
 * </pre>
 */
final class GroupAdmin {
    private GroupAdmin() {}

    static int run(KafkaCli.Args a, BufferedWriter out) throws Exception {
        Properties p = KafkaCli.base(a);
        p.putAll(a.props);
        try (Admin admin = Admin.create(p)) {
            String json = switch (a.get("action", "list")) {
                case "list" -> list(admin);
                case "describe" -> describe(admin, a);
                case "share-describe" -> shareDescribe(admin, a);
                case "share-offsets" -> shareOffsets(admin, a);
                case "share-alter-offsets" -> shareAlterOffsets(admin, a);
                case "share-delete-offsets" -> shareDeleteOffsets(admin, a);
                case "offsets" -> offsets(admin, a);
                case "alter-offsets" -> alterOffsets(admin, a);
                case "delete-offsets" -> deleteOffsets(admin, a);
                case "delete" -> delete(admin, a);
                default -> throw new IllegalArgumentException("unknown --action");
            };
            out.write(json + "\n");
        }
        return 0;
    }

    private static <T> T get(KafkaFuture<T> f) throws Exception {
        return f.get(60, TimeUnit.SECONDS);
    }

    /** {"error":"Class","message":".."} for a failed future's cause. */
    private static String error(ExecutionException e) {
        Throwable c = e.getCause() == null ? e : e.getCause();
        return "{\"error\":" + KafkaCli.jsonString(c.getClass().getSimpleName()) + ",\"message\":"
                + KafkaCli.jsonString(String.valueOf(c.getMessage())) + "}";
    }

    private static String list(Admin admin) throws Exception {
        StringBuilder sb = new StringBuilder("[");
        for (GroupListing g : get(admin.listGroups().all())) {
            if (sb.length() > 1) {
                sb.append(',');
            }
            sb.append("{\"group\":").append(KafkaCli.jsonString(g.groupId()));
            sb.append(",\"type\":").append(KafkaCli.jsonString(g.type().map(Object::toString).orElse(null)));
            sb.append(",\"state\":").append(KafkaCli.jsonString(g.groupState().map(Object::toString).orElse(null)));
            sb.append(",\"protocol\":").append(KafkaCli.jsonString(g.protocol())).append('}');
        }
        return sb.append(']').toString();
    }

    private static String shareOffsets(Admin admin, KafkaCli.Args a) throws Exception {
        String g = a.groups.get(0);
        Map<TopicPartition, org.apache.kafka.clients.admin.SharePartitionOffsetInfo> info;
        try {
            info = get(admin.listShareGroupOffsets(
                    Map.of(g, new org.apache.kafka.clients.admin.ListShareGroupOffsetsSpec()))
                    .partitionsToOffsetInfo(g));
        } catch (ExecutionException e) {
            return error(e);
        }
        Map<String, org.apache.kafka.clients.admin.SharePartitionOffsetInfo> sorted = new TreeMap<>();
        info.forEach((tp, o) -> sorted.put(tp.topic() + ":" + tp.partition(), o));
        StringBuilder sb = new StringBuilder("{");
        for (Map.Entry<String, org.apache.kafka.clients.admin.SharePartitionOffsetInfo> e : sorted.entrySet()) {
            if (sb.length() > 1) {
                sb.append(',');
            }
            sb.append(KafkaCli.jsonString(e.getKey()));
            sb.append(":{\"start\":").append(e.getValue() == null ? -1 : e.getValue().startOffset());
            sb.append(",\"lag\":").append(e.getValue() == null ? "null"
                    : e.getValue().lag().map(String::valueOf).orElse("null")).append('}');
        }
        return sb.append('}').toString();
    }

    private static String shareAlterOffsets(Admin admin, KafkaCli.Args a) throws Exception {
        Map<TopicPartition, Long> offsets = new HashMap<>();
        for (String kv : a.get("offsets", "").split(",")) {
            String[] p = kv.split("=");
            offsets.put(new TopicPartition(a.topic(), Integer.parseInt(p[0])), Long.parseLong(p[1]));
        }
        try {
            get(admin.alterShareGroupOffsets(a.groups.get(0), offsets).all());
        } catch (ExecutionException e) {
            return error(e);
        }
        return "{\"ok\":true}";
    }

    private static String shareDeleteOffsets(Admin admin, KafkaCli.Args a) throws Exception {
        try {
            get(admin.deleteShareGroupOffsets(a.groups.get(0), Set.copyOf(a.topics)).all());
        } catch (ExecutionException e) {
            return error(e);
        }
        return "{\"ok\":true}";
    }

    private static String shareDescribe(Admin admin, KafkaCli.Args a) throws Exception {
        Map<String, KafkaFuture<org.apache.kafka.clients.admin.ShareGroupDescription>> fs =
                admin.describeShareGroups(a.groups).describedGroups();
        StringBuilder sb = new StringBuilder("{");
        for (String g : a.groups) {
            if (sb.length() > 1) {
                sb.append(',');
            }
            sb.append(KafkaCli.jsonString(g)).append(':');
            org.apache.kafka.clients.admin.ShareGroupDescription d;
            try {
                d = get(fs.get(g));
            } catch (ExecutionException e) {
                Throwable c = e.getCause() == null ? e : e.getCause();
                sb.append("{\"error\":").append(KafkaCli.jsonString(c.getClass().getSimpleName())).append('}');
                continue;
            }
            sb.append("{\"state\":").append(KafkaCli.jsonString(String.valueOf(d.groupState())));
            sb.append(",\"epoch\":").append(d.groupEpoch());
            sb.append(",\"members\":[");
            boolean firstMember = true;
            for (org.apache.kafka.clients.admin.ShareMemberDescription m : d.members()) {
                if (!firstMember) {
                    sb.append(',');
                }
                firstMember = false;
                sb.append("{\"member\":").append(KafkaCli.jsonString(m.consumerId()));
                sb.append(",\"client\":").append(KafkaCli.jsonString(m.clientId()));
                Map<String, java.util.TreeSet<Integer>> parts = new TreeMap<>();
                for (TopicPartition tp : m.assignment().topicPartitions()) {
                    parts.computeIfAbsent(tp.topic(), k -> new java.util.TreeSet<>()).add(tp.partition());
                }
                sb.append(",\"parts\":{");
                boolean firstTopic = true;
                for (Map.Entry<String, java.util.TreeSet<Integer>> e : parts.entrySet()) {
                    if (!firstTopic) {
                        sb.append(',');
                    }
                    firstTopic = false;
                    sb.append(KafkaCli.jsonString(e.getKey())).append(':')
                            .append(e.getValue().toString().replace(" ", ""));
                }
                sb.append("}}");
            }
            sb.append("]}");
        }
        return sb.append('}').toString();
    }

    private static String describe(Admin admin, KafkaCli.Args a) throws Exception {
        Map<String, KafkaFuture<ConsumerGroupDescription>> fs =
                admin.describeConsumerGroups(a.groups).describedGroups();
        StringBuilder sb = new StringBuilder("{");
        for (String g : a.groups) {
            if (sb.length() > 1) {
                sb.append(',');
            }
            sb.append(KafkaCli.jsonString(g)).append(':');
            ConsumerGroupDescription d;
            try {
                d = get(fs.get(g));
            } catch (ExecutionException e) {
                sb.append(error(e));
                continue;
            }
            sb.append("{\"state\":").append(KafkaCli.jsonString(d.groupState().toString()));
            sb.append(",\"type\":").append(KafkaCli.jsonString(d.type().toString()));
            sb.append(",\"assignor\":").append(KafkaCli.jsonString(d.partitionAssignor()));
            sb.append(",\"coordinator\":").append(d.coordinator() == null ? -1 : d.coordinator().id());
            sb.append(",\"members\":[");
            boolean first = true;
            for (MemberDescription m : d.members()) {
                if (!first) {
                    sb.append(',');
                }
                first = false;
                sb.append("{\"member\":").append(KafkaCli.jsonString(m.consumerId()));
                sb.append(",\"instance\":").append(KafkaCli.jsonString(m.groupInstanceId().orElse(null)));
                sb.append(",\"client\":").append(KafkaCli.jsonString(m.clientId()));
                Map<String, Set<Integer>> parts = new TreeMap<>();
                for (TopicPartition tp : m.assignment().topicPartitions()) {
                    parts.computeIfAbsent(tp.topic(), k -> new java.util.TreeSet<>()).add(tp.partition());
                }
                sb.append(",\"parts\":{");
                boolean f2 = true;
                for (Map.Entry<String, Set<Integer>> e : parts.entrySet()) {
                    if (!f2) {
                        sb.append(',');
                    }
                    f2 = false;
                    sb.append(KafkaCli.jsonString(e.getKey())).append(':')
                            .append(e.getValue().toString().replace(" ", ""));
                }
                sb.append("}}");
            }
            sb.append("]}");
        }
        return sb.append('}').toString();
    }

    private static String offsets(Admin admin, KafkaCli.Args a) throws Exception {
        Map<String, ListConsumerGroupOffsetsSpec> specs = new HashMap<>();
        for (String g : a.groups) {
            specs.put(g, new ListConsumerGroupOffsetsSpec());
        }
        var result = admin.listConsumerGroupOffsets(specs);
        StringBuilder sb = new StringBuilder("{");
        for (String g : a.groups) {
            if (sb.length() > 1) {
                sb.append(',');
            }
            sb.append(KafkaCli.jsonString(g)).append(':');
            Map<TopicPartition, OffsetAndMetadata> m;
            try {
                m = get(result.partitionsToOffsetAndMetadata(g));
            } catch (ExecutionException e) {
                sb.append(error(e));
                continue;
            }
            sb.append('{');
            boolean first = true;
            for (Map.Entry<String, Long> e : new TreeMap<>(toKeys(m)).entrySet()) {
                if (!first) {
                    sb.append(',');
                }
                first = false;
                sb.append(KafkaCli.jsonString(e.getKey())).append(':').append(e.getValue());
            }
            sb.append('}');
        }
        return sb.append('}').toString();
    }

    private static Map<String, Long> toKeys(Map<TopicPartition, OffsetAndMetadata> m) {
        Map<String, Long> out = new HashMap<>();
        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : m.entrySet()) {
            if (e.getValue() != null) {
                out.put(e.getKey().topic() + ":" + e.getKey().partition(), e.getValue().offset());
            }
        }
        return out;
    }

    private static String alterOffsets(Admin admin, KafkaCli.Args a) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> m = new HashMap<>();
        for (String kv : a.get("offsets", "").split(",")) {
            String[] f = kv.split("=");
            m.put(new TopicPartition(a.topic(), Integer.parseInt(f[0])),
                    new OffsetAndMetadata(Long.parseLong(f[1])));
        }
        try {
            get(admin.alterConsumerGroupOffsets(a.groups.get(0), m).all());
            return "{\"ok\":true}";
        } catch (ExecutionException e) {
            return error(e);
        }
    }

    private static String deleteOffsets(Admin admin, KafkaCli.Args a) throws Exception {
        Set<TopicPartition> tps = new HashSet<>();
        for (String s : a.get("partitions", "").split(",")) {
            tps.add(new TopicPartition(a.topic(), Integer.parseInt(s)));
        }
        try {
            get(admin.deleteConsumerGroupOffsets(a.groups.get(0), tps).all());
            return "{\"ok\":true}";
        } catch (ExecutionException e) {
            return error(e);
        }
    }

    private static String delete(Admin admin, KafkaCli.Args a) throws Exception {
        Map<String, KafkaFuture<Void>> fs = admin.deleteConsumerGroups(a.groups).deletedGroups();
        StringBuilder sb = new StringBuilder("{");
        for (String g : a.groups) {
            if (sb.length() > 1) {
                sb.append(',');
            }
            sb.append(KafkaCli.jsonString(g)).append(':');
            try {
                get(fs.get(g));
                sb.append("\"ok\"");
            } catch (ExecutionException e) {
                sb.append(error(e));
            }
        }
        return sb.append('}').toString();
    }
}
