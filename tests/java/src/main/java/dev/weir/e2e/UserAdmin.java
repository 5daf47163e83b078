package dev.weir.e2e;

import java.io.BufferedWriter;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialAlteration;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.admin.UserScramCredentialsDescription;

/**
 * The Admin client's SCRAM user calls, one per --action, each printing one JSON line:
 *
 * <pre>
 * create   --name U --mechanism SCRAM-SHA-512 [--iterations 8192] --password P   {"ok":true}
 * describe --name U      {"credentials":[["SCRAM_SHA_512",8192],..]}
 * </pre>
 *
 * Either prints {"error":"Class","message":"..."} when the call fails.
 */
final class UserAdmin {
    private UserAdmin() {}

    static int run(KafkaCli.Args a, BufferedWriter out) throws Exception {
        Properties p = KafkaCli.base(a);
        p.putAll(a.props);
        try (Admin admin = Admin.create(p)) {
            String json;
            try {
                json = switch (a.get("action", "describe")) {
                    case "create" -> create(admin, a);
                    case "describe" -> describe(admin, a.get("name", ""));
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

    private static String create(Admin admin, KafkaCli.Args a) throws Exception {
        ScramMechanism mech = ScramMechanism.fromMechanismName(a.get("mechanism", "SCRAM-SHA-512"));
        int iterations = Integer.parseInt(a.get("iterations", "8192"));
        UserScramCredentialAlteration up = new UserScramCredentialUpsertion(a.get("name", ""),
                new ScramCredentialInfo(mech, iterations), a.get("password", ""));
        admin.alterUserScramCredentials(List.of(up)).all().get(60, TimeUnit.SECONDS);
        return "{\"ok\":true}";
    }

    private static String describe(Admin admin, String name) throws Exception {
        Map<String, UserScramCredentialsDescription> d =
                admin.describeUserScramCredentials(List.of(name)).all().get(60, TimeUnit.SECONDS);
        StringBuilder sb = new StringBuilder("{\"credentials\":[");
        boolean first = true;
        for (ScramCredentialInfo i : d.get(name).credentialInfos()) {
            if (!first) {
                sb.append(',');
            }
            first = false;
            sb.append('[').append(KafkaCli.jsonString(i.mechanism().name())).append(',')
                    .append(i.iterations()).append(']');
        }
        return sb.append("]}").toString();
    }
}
