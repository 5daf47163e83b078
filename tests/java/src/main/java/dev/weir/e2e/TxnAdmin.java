package dev.weir.e2e;

import java.io.BufferedWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.DescribeProducersResult;
import org.apache.kafka.clients.admin.ListTransactionsOptions;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.TopicPartition;

/**
 * The Admin client's transaction calls (KIP-664), one per --action, each printing one JSON
 * line:
 *
 * <pre>
 * list [--states Ongoing,CompleteCommit] [--pids 1,2]
 *                             [{"txn","pid","state"}]
 * describe --txn T [--txn T]  {"T":{"state","pid","epoch","timeoutMs","startMs",
 *                              "coordinator","partitions":["topic:p",..]} | {"error":..}}
 * producers --topic T --partitions 0,1
 *                             {"T:p":[{"pid","epoch","lastSeq","lastTs","coordinatorEpoch",
 *                              "txnStartOffset"}] | {"error":..}}
 * </pre>
 */
final class TxnAdmin {
    private TxnAdmin() {}

    static int run(KafkaCli.Args a, BufferedWriter out) throws Exception {
        Properties p = KafkaCli.base(a);
        p.putAll(a.props);
        try (Admin admin = Admin.create(p)) {
            String json = switch (a.get("action", "list")) {
                case "list" -> list(admin, a);
                case "describe" -> describe(admin, a);
                case "producers" -> producers(admin, a);
                default -> throw new IllegalArgumentException("unknown --action");
            };
            out.write(json + "\n");
        }
        return 0;
    }

    private static <T> T get(KafkaFuture<T> f) throws Exception {
        return f.get(60, TimeUnit.SECONDS);
    }

    private static String error(ExecutionException e) {
        Throwable c = e.getCause() == null ? e : e.getCause();
        return "{\"error\":" + KafkaCli.jsonString(c.getClass().getSimpleName()) + ",\"message\":"
                + KafkaCli.jsonString(String.valueOf(c.getMessage())) + "}";
    }

    private static String list(Admin admin, KafkaCli.Args a) throws Exception {
        ListTransactionsOptions o = new ListTransactionsOptions();
        String states = a.get("states", "");
        if (!states.isEmpty()) {
            List<TransactionState> ss = new ArrayList<>();
            for (String s : states.split(",")) {
                ss.add(TransactionState.parse(s));
            }
            o.filterStates(ss);
        }
        String pids = a.get("pids", "");
        if (!pids.isEmpty()) {
            List<Long> ps = new ArrayList<>();
            for (String s : pids.split(",")) {
                ps.add(Long.parseLong(s));
            }
            o.filterProducerIds(ps);
        }
        StringBuilder sb = new StringBuilder("[");
        for (TransactionListing l : get(admin.listTransactions(o).all())) {
            if (sb.length() > 1) {
                sb.append(',');
            }
            sb.append("{\"txn\":").append(KafkaCli.jsonString(l.transactionalId()));
            sb.append(",\"pid\":").append(l.producerId());
            sb.append(",\"state\":").append(KafkaCli.jsonString(l.state().toString())).append('}');
        }
        return sb.append(']').toString();
    }

    private static String describe(Admin admin, KafkaCli.Args a) throws Exception {
        List<String> ids = new ArrayList<>();
        for (String s : a.get("txn", "").split(",")) {
            ids.add(s);
        }
        var result = admin.describeTransactions(ids);
        StringBuilder sb = new StringBuilder("{");
        for (String id : ids) {
            if (sb.length() > 1) {
                sb.append(',');
            }
            sb.append(KafkaCli.jsonString(id)).append(':');
            TransactionDescription d;
            try {
                d = get(result.description(id));
            } catch (ExecutionException e) {
                sb.append(error(e));
                continue;
            }
            sb.append("{\"state\":").append(KafkaCli.jsonString(d.state().toString()));
            sb.append(",\"pid\":").append(d.producerId());
            sb.append(",\"epoch\":").append(d.producerEpoch());
            sb.append(",\"timeoutMs\":").append(d.transactionTimeoutMs());
            sb.append(",\"startMs\":").append(d.transactionStartTimeMs().orElse(-1));
            sb.append(",\"coordinator\":").append(d.coordinatorId());
            sb.append(",\"partitions\":[");
            TreeSet<String> tps = new TreeSet<>();
            for (TopicPartition tp : d.topicPartitions()) {
                tps.add(tp.topic() + ":" + tp.partition());
            }
            boolean first = true;
            for (String tp : tps) {
                sb.append(first ? "" : ",").append(KafkaCli.jsonString(tp));
                first = false;
            }
            sb.append("]}");
        }
        return sb.append('}').toString();
    }

    private static String producers(Admin admin, KafkaCli.Args a) throws Exception {
        List<TopicPartition> tps = new ArrayList<>();
        for (String s : a.get("partitions", "0").split(",")) {
            tps.add(new TopicPartition(a.topic(), Integer.parseInt(s)));
        }
        DescribeProducersResult r = admin.describeProducers(tps);
        StringBuilder sb = new StringBuilder("{");
        for (TopicPartition tp : tps) {
            if (sb.length() > 1) {
                sb.append(',');
            }
            sb.append(KafkaCli.jsonString(tp.topic() + ":" + tp.partition())).append(':');
            DescribeProducersResult.PartitionProducerState st;
            try {
                st = get(r.partitionResult(tp));
            } catch (ExecutionException e) {
                sb.append(error(e));
                continue;
            }
            sb.append('[');
            boolean first = true;
            for (ProducerState ps : st.activeProducers()) {
                sb.append(first ? "" : ",");
                first = false;
                sb.append("{\"pid\":").append(ps.producerId());
                sb.append(",\"epoch\":").append(ps.producerEpoch());
                sb.append(",\"lastSeq\":").append(ps.lastSequence());
                sb.append(",\"lastTs\":").append(ps.lastTimestamp());
                sb.append(",\"coordinatorEpoch\":").append(ps.coordinatorEpoch().orElse(-1));
                sb.append(",\"txnStartOffset\":").append(ps.currentTransactionStartOffset().orElse(-1));
                sb.append('}');
            }
            sb.append(']');
        }
        return sb.append('}').toString();
    }
}
