package dev.weir.e2e;

import java.io.BufferedWriter;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.PartitionReassignment;
import org.apache.kafka.clients.admin.ReplicaInfo;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.TopicPartition;

/**
 * The Admin client's partition-moving calls, one per --action, each printing one JSON line:
 *
 * <pre>
 * reassign      --topic T --partition P (--replicas 1,2 | --cancel true)   {"ok":true}
 * reassignments   {"moves":[{"topic":T,"partition":P,"replicas":[..],"adding":[..],"removing":[..]}]}
 * elect         --type preferred|unclean [--topic T --partition P]
 *                 {"results":[{"topic":T,"partition":P,"error":null|"Class"}]}
 * logdirs       --brokers 1,2,3
 *                 {"dirs":[{"broker":B,"dir":D,"error":null|"Class","replicas":[{"topic":T,"partition":P,"size":S,"lag":L}]}]}
 * </pre>
 *
 * Either prints {"error":"Class","message":"..."} when the call fails.
 */
final class ClusterAdmin {
    private ClusterAdmin() {}

    static int run(KafkaCli.Args a, BufferedWriter out) throws Exception {
        Properties p = KafkaCli.base(a);
        p.putAll(a.props);
        try (Admin admin = Admin.create(p)) {
            String json;
            try {
                json = switch (a.get("action", "")) {
                    case "reassign" -> reassign(admin, a);
                    case "reassignments" -> reassignments(admin);
                    case "elect" -> elect(admin, a);
                    case "logdirs" -> logDirs(admin, a.get("brokers", ""));
                    default -> throw new IllegalArgumentException("unknown --action");
                };
            } catch (ExecutionException e) {
                Throwable c = e.getCause() == null ? e : e.getCause();
                json = "{\"error\":" + KafkaCli.jsonString(c.getClass().getSimpleName())
                        + ",\"message\":" + KafkaCli.jsonString(String.valueOf(c.getMessage())) + "}";
            }
            out.write(json + "\n");
        }
        return 0;
    }

    private static List<Integer> ids(String csv) {
        List<Integer> out = new ArrayList<>();
        for (String s : csv.split(",")) {
            if (!s.isBlank()) {
                out.add(Integer.parseInt(s.trim()));
            }
        }
        return out;
    }

    private static String ints(List<Integer> v) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < v.size(); i++) {
            sb.append(i == 0 ? "" : ",").append(v.get(i));
        }
        return sb.append(']').toString();
    }

    private static String reassign(Admin admin, KafkaCli.Args a) throws Exception {
        TopicPartition tp = new TopicPartition(a.topic(), Integer.parseInt(a.get("partition", "0")));
        Optional<NewPartitionReassignment> move = Boolean.parseBoolean(a.get("cancel", "false"))
                ? Optional.empty()
                : Optional.of(new NewPartitionReassignment(ids(a.get("replicas", ""))));
        admin.alterPartitionReassignments(Map.of(tp, move)).all().get(60, TimeUnit.SECONDS);
        return "{\"ok\":true}";
    }

    private static String reassignments(Admin admin) throws Exception {
        Map<TopicPartition, PartitionReassignment> moves =
                admin.listPartitionReassignments().reassignments().get(60, TimeUnit.SECONDS);
        StringBuilder sb = new StringBuilder("{\"moves\":[");
        boolean first = true;
        for (Map.Entry<TopicPartition, PartitionReassignment> e : moves.entrySet()) {
            sb.append(first ? "" : ",");
            first = false;
            PartitionReassignment r = e.getValue();
            sb.append("{\"topic\":").append(KafkaCli.jsonString(e.getKey().topic()))
                    .append(",\"partition\":").append(e.getKey().partition())
                    .append(",\"replicas\":").append(ints(r.replicas()))
                    .append(",\"adding\":").append(ints(r.addingReplicas()))
                    .append(",\"removing\":").append(ints(r.removingReplicas())).append('}');
        }
        return sb.append("]}").toString();
    }

    private static String elect(Admin admin, KafkaCli.Args a) throws Exception {
        ElectionType type = ElectionType.valueOf(a.get("type", "preferred").toUpperCase());
        Set<TopicPartition> parts = null;
        if (!a.topics.isEmpty()) {
            parts = new HashSet<>();
            parts.add(new TopicPartition(a.topic(), Integer.parseInt(a.get("partition", "0"))));
        }
        Map<TopicPartition, Optional<Throwable>> results =
                admin.electLeaders(type, parts).partitions().get(60, TimeUnit.SECONDS);
        StringBuilder sb = new StringBuilder("{\"results\":[");
        boolean first = true;
        for (Map.Entry<TopicPartition, Optional<Throwable>> e : results.entrySet()) {
            sb.append(first ? "" : ",");
            first = false;
            String err = e.getValue().map(t -> KafkaCli.jsonString(t.getClass().getSimpleName())).orElse("null");
            sb.append("{\"topic\":").append(KafkaCli.jsonString(e.getKey().topic()))
                    .append(",\"partition\":").append(e.getKey().partition())
                    .append(",\"error\":").append(err).append('}');
        }
        return sb.append("]}").toString();
    }

    private static String logDirs(Admin admin, String brokers) throws Exception {
        List<Integer> ids = ids(brokers);
        Map<Integer, Map<String, LogDirDescription>> all =
                admin.describeLogDirs(ids).allDescriptions().get(60, TimeUnit.SECONDS);
        StringBuilder sb = new StringBuilder("{\"dirs\":[");
        boolean first = true;
        for (Map.Entry<Integer, Map<String, LogDirDescription>> b : all.entrySet()) {
            for (Map.Entry<String, LogDirDescription> d : b.getValue().entrySet()) {
                sb.append(first ? "" : ",");
                first = false;
                LogDirDescription desc = d.getValue();
                String err = desc.error() == null ? "null" : KafkaCli.jsonString(desc.error().getClass().getSimpleName());
                sb.append("{\"broker\":").append(b.getKey())
                        .append(",\"dir\":").append(KafkaCli.jsonString(d.getKey()))
                        .append(",\"error\":").append(err).append(",\"replicas\":[");
                boolean f2 = true;
                for (Map.Entry<TopicPartition, ReplicaInfo> r : desc.replicaInfos().entrySet()) {
                    sb.append(f2 ? "" : ",");
                    f2 = false;
                    sb.append("{\"topic\":").append(KafkaCli.jsonString(r.getKey().topic()))
                            .append(",\"partition\":").append(r.getKey().partition())
                            .append(",\"size\":").append(r.getValue().size())
                            .append(",\"lag\":").append(r.getValue().offsetLag()).append('}');
                }
                sb.append("]}");
            }
        }
        return sb.append("]}").toString();
    }
}
