package dev.weir.e2e;

import java.io.BufferedWriter;
import java.util.Collection;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.apache.kafka.common.resource.ResourceType;

/**
 * The Admin client's ACL calls, one per --action, each printing one JSON line:
 *
 * <pre>
 * create --resource-type TOPIC --name N [--pattern LITERAL] --principal User:x [--host *]
 *        --operation READ [--permission ALLOW]                       {"ok":true}
 * list   [--resource-type ANY] [--name N] [--principal P]
 *        {"acls":[["TOPIC","name","LITERAL","User:x","*","READ","ALLOW"],..]}
 * delete (the same filter as list)                                  {"deleted":n}
 * </pre>
 *
 * Either prints {"error":"Class","message":"..."} when the call fails.
 */
final class AclAdmin {
    private AclAdmin() {}

    static int run(KafkaCli.Args a, BufferedWriter out) throws Exception {
        Properties p = KafkaCli.base(a);
        p.putAll(a.props);
        try (Admin admin = Admin.create(p)) {
            String json;
            try {
                json = switch (a.get("action", "list")) {
                    case "create" -> create(admin, a);
                    case "list" -> list(admin, filter(a));
                    case "delete" -> delete(admin, filter(a));
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
        AclBinding b = new AclBinding(
                new ResourcePattern(ResourceType.fromString(a.get("resource-type", "TOPIC")),
                        a.get("name", ""), PatternType.fromString(a.get("pattern", "LITERAL"))),
                new AccessControlEntry(a.get("principal", ""), a.get("host", "*"),
                        AclOperation.fromString(a.get("operation", "READ")),
                        AclPermissionType.fromString(a.get("permission", "ALLOW"))));
        admin.createAcls(List.of(b)).all().get(60, TimeUnit.SECONDS);
        return "{\"ok\":true}";
    }

    private static AclBindingFilter filter(KafkaCli.Args a) {
        String name = a.get("name", null);
        String principal = a.get("principal", null);
        return new AclBindingFilter(
                new ResourcePatternFilter(ResourceType.fromString(a.get("resource-type", "ANY")), name,
                        PatternType.fromString(a.get("pattern", "ANY"))),
                new AccessControlEntryFilter(principal, null, AclOperation.ANY, AclPermissionType.ANY));
    }

    private static String list(Admin admin, AclBindingFilter f) throws Exception {
        Collection<AclBinding> acls = admin.describeAcls(f).values().get(60, TimeUnit.SECONDS);
        StringBuilder sb = new StringBuilder("{\"acls\":[");
        boolean first = true;
        for (AclBinding b : acls) {
            if (!first) {
                sb.append(',');
            }
            first = false;
            sb.append('[').append(KafkaCli.jsonString(b.pattern().resourceType().name())).append(',')
                    .append(KafkaCli.jsonString(b.pattern().name())).append(',')
                    .append(KafkaCli.jsonString(b.pattern().patternType().name())).append(',')
                    .append(KafkaCli.jsonString(b.entry().principal())).append(',')
                    .append(KafkaCli.jsonString(b.entry().host())).append(',')
                    .append(KafkaCli.jsonString(b.entry().operation().name())).append(',')
                    .append(KafkaCli.jsonString(b.entry().permissionType().name())).append(']');
        }
        return sb.append("]}").toString();
    }

    private static String delete(Admin admin, AclBindingFilter f) throws Exception {
        Collection<AclBinding> gone = admin.deleteAcls(List.of(f)).all().get(60, TimeUnit.SECONDS);
        return "{\"deleted\":" + gone.size() + "}";
    }
}
