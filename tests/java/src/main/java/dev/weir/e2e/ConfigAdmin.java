package dev.weir.e2e;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.AlterConfigsOptions;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.DescribeConfigsOptions;
import org.apache.kafka.common.config.ConfigResource;

/**
 * The Admin client's config calls, one per --action, each printing one JSON line:
 *
 * <pre>
 * describe --type topic|broker --name N [--keys k1,k2]
 *          {"configs":{"k":{"value":v|null,"source":"DYNAMIC_TOPIC_CONFIG",..,"readOnly":b,
 *           "sensitive":b,"type":"LONG","synonyms":[["name","value","SOURCE"],..]}}}
 * alter    --type topic|broker --name N [--validate-only true]
 *          stdin: one operation a line, TAB-separated: SET key value | DELETE key |
 *                 APPEND key value | SUBTRACT key value   (incrementalAlterConfigs)
 *          {"ok":true}
 * </pre>
 *
 * Either prints {"error":"Class","message":"..."} when the call fails. A broker resource's
 * name is the broker id, or "" for the cluster-wide default.
 */
final class ConfigAdmin {
    private ConfigAdmin() {}

    static int run(KafkaCli.Args a, BufferedWriter out) throws Exception {
        Properties p = KafkaCli.base(a);
        p.putAll(a.props);
        ConfigResource.Type type = ConfigResource.Type.valueOf(a.get("type", "topic").toUpperCase());
        ConfigResource res = new ConfigResource(type, a.get("name", ""));
        try (Admin admin = Admin.create(p)) {
            String json;
            try {
                json = switch (a.get("action", "describe")) {
                    case "describe" -> describe(admin, res, a.get("keys", ""));
                    case "alter" -> alter(admin, res, Boolean.parseBoolean(a.get("validate-only", "false")));
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

    private static String describe(Admin admin, ConfigResource res, String keys) throws Exception {
        DescribeConfigsOptions o = new DescribeConfigsOptions().includeSynonyms(true).includeDocumentation(false);
        Config cfg = admin.describeConfigs(List.of(res), o).all().get(60, TimeUnit.SECONDS).get(res);
        Map<String, ConfigEntry> entries = new TreeMap<>();
        for (ConfigEntry e : cfg.entries()) {
            entries.put(e.name(), e);
        }
        Collection<String> wanted = keys.isEmpty() ? entries.keySet() : Arrays.asList(keys.split(","));
        StringBuilder sb = new StringBuilder("{\"configs\":{");
        boolean first = true;
        for (String k : wanted) {
            ConfigEntry e = entries.get(k);
            if (e == null) {
                continue;
            }
            if (!first) {
                sb.append(',');
            }
            first = false;
            sb.append(KafkaCli.jsonString(k)).append(":{\"value\":").append(KafkaCli.jsonString(e.value()));
            sb.append(",\"source\":\"").append(e.source().name()).append('"');
            sb.append(",\"readOnly\":").append(e.isReadOnly());
            sb.append(",\"sensitive\":").append(e.isSensitive());
            sb.append(",\"type\":\"").append(e.type().name()).append('"');
            sb.append(",\"synonyms\":[");
            boolean f2 = true;
            for (ConfigEntry.ConfigSynonym s : e.synonyms()) {
                if (!f2) {
                    sb.append(',');
                }
                f2 = false;
                sb.append('[').append(KafkaCli.jsonString(s.name())).append(',')
                        .append(KafkaCli.jsonString(s.value())).append(",\"").append(s.source().name()).append("\"]");
            }
            sb.append("]}");
        }
        return sb.append("}}").toString();
    }

    private static String alter(Admin admin, ConfigResource res, boolean validateOnly) throws Exception {
        List<AlterConfigOp> ops = new ArrayList<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isEmpty()) {
                continue;
            }
            String[] f = line.split("\t", -1);
            AlterConfigOp.OpType op = AlterConfigOp.OpType.valueOf(f[0]);
            String value = f.length > 2 ? f[2] : null;
            ops.add(new AlterConfigOp(new ConfigEntry(f[1], value), op));
        }
        admin.incrementalAlterConfigs(Map.of(res, ops), new AlterConfigsOptions().validateOnly(validateOnly))
                .all().get(60, TimeUnit.SECONDS);
        return "{\"ok\":true}";
    }
}
