package dev.weir.e2e;

import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Producer throughput with the Java client in one of four modes, for scripts/bench-txn:
 *
 * <pre>
 * java -cp kafka-cli.jar dev.weir.e2e.TxnBench BOOTSTRAP TOPIC RECORDS SIZE MODE [PER_TXN]
 *   MODE: plain (enable.idempotence=false), idempotent (the client's default), txn
 *         (a transaction per PER_TXN records, committed)
 * </pre>
 *
 * acks=all in every mode (idempotence requires it). Prints one JSON line:
 * {"mode","records","perTxn","seconds","recordsPerSec","mbPerSec"}; exits 1 if any send failed.
 */
public final class TxnBench {
    private TxnBench() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 5) {
            System.err.println("usage: TxnBench BOOTSTRAP TOPIC RECORDS SIZE plain|idempotent|txn [PER_TXN]");
            System.exit(2);
        }
        String bootstrap = args[0];
        String topic = args[1];
        long records = Long.parseLong(args[2]);
        int size = Integer.parseInt(args[3]);
        String mode = args[4];
        long perTxn = args.length > 5 ? Long.parseLong(args[5]) : 0;
        Properties p = new Properties();
        p.setProperty("bootstrap.servers", bootstrap);
        p.setProperty("key.serializer", ByteArraySerializer.class.getName());
        p.setProperty("value.serializer", ByteArraySerializer.class.getName());
        p.setProperty("acks", "all");
        p.setProperty("linger.ms", "5");
        p.setProperty("batch.size", "65536");
        switch (mode) {
            case "plain" -> p.setProperty("enable.idempotence", "false");
            case "idempotent" -> p.setProperty("enable.idempotence", "true");
            case "txn" -> p.setProperty("transactional.id", "bench-" + topic);
            default -> throw new IllegalArgumentException("unknown mode " + mode);
        }
        byte[] value = new byte[size];
        for (int i = 0; i < size; i++) {
            value[i] = (byte) ('a' + i % 26);
        }
        AtomicLong failed = new AtomicLong();
        AtomicReference<Exception> first = new AtomicReference<>();
        long start;
        long end;
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            boolean txn = mode.equals("txn");
            if (txn) {
                producer.initTransactions();
            }
            // Metadata and, for transactions, the coordinator are found before timing.
            producer.partitionsFor(topic);
            start = System.nanoTime();
            long inTxn = 0;
            for (long i = 0; i < records; i++) {
                if (txn && inTxn == 0) {
                    producer.beginTransaction();
                }
                producer.send(new ProducerRecord<>(topic, value), (md, e) -> {
                    if (e != null) {
                        failed.incrementAndGet();
                        first.compareAndSet(null, e);
                    }
                });
                if (txn && ++inTxn == perTxn) {
                    producer.commitTransaction();
                    inTxn = 0;
                }
            }
            if (txn && inTxn > 0) {
                producer.commitTransaction();
            }
            producer.flush();
            end = System.nanoTime();
        }
        double seconds = (end - start) / 1e9;
        System.out.printf("{\"mode\":\"%s\",\"records\":%d,\"perTxn\":%d,\"seconds\":%.3f,"
                        + "\"recordsPerSec\":%.0f,\"mbPerSec\":%.2f,\"failed\":%d}%n",
                mode, records, perTxn, seconds, records / seconds,
                records * (double) size / seconds / 1e6, failed.get());
        if (failed.get() > 0) {
            System.err.println("first failure: " + first.get());
            System.exit(1);
        }
    }
}
