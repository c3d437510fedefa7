import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Readiness probe used by deploy/local/up: retries a produce/consume round
 * trip (plus a consumer-group offset commit) until it succeeds or the time
 * is up. Usage: KafkaReady BOOTSTRAP TIMEOUT_SECONDS [PID_TO_WATCH]
 * Exit 0 ready, 2 timed out, 3 the watched process exited.
 */
public final class KafkaReady {
  private static final String TOPIC = "_chat_local_probe";
  private static final String GROUP = "_chat_local_probe";

  public static void main(String[] args) throws InterruptedException {
    String bootstrap = args[0];
    long deadline = System.nanoTime() + Duration.ofSeconds(Long.parseLong(args[1])).toNanos();
    long pid = args.length > 2 ? Long.parseLong(args[2]) : -1;
    Throwable last = null;
    int attempts = 0;
    while (System.nanoTime() < deadline) {
      if (pid > 0 && !ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
        System.err.println("[probe] kafka process " + pid + " exited");
        System.exit(3);
      }
      attempts++;
      try {
        System.out.println("[probe] " + roundTrip(bootstrap));
        return;
      } catch (Exception e) {
        last = e;
      }
      Thread.sleep(500);
    }
    System.err.println("[probe] no round trip after " + attempts + " attempts; last error: " + describe(last));
    System.exit(2);
  }

  private static String roundTrip(String bootstrap) throws Exception {
    Properties common = new Properties();
    common.put("bootstrap.servers", bootstrap);
    common.put("client.id", "chat-local-probe");
    common.put("request.timeout.ms", "5000");
    common.put("default.api.timeout.ms", "8000");
    common.put("reconnect.backoff.max.ms", "500");

    String clusterId;
    try (Admin admin = Admin.create(common)) {
      clusterId = admin.describeCluster().clusterId().get();
      try {
        admin.createTopics(List.of(new NewTopic(TOPIC, 1, (short) 1))).all().get();
      } catch (ExecutionException e) {
        if (!(e.getCause() instanceof TopicExistsException)) {
          throw e;
        }
      }
    }

    String payload = UUID.randomUUID().toString();
    Properties pp = new Properties();
    pp.putAll(common);
    pp.put("acks", "all");
    pp.put("enable.idempotence", "true");
    pp.put("max.block.ms", "8000");
    pp.put("delivery.timeout.ms", "15000");
    RecordMetadata md;
    try (KafkaProducer<String, String> producer =
        new KafkaProducer<>(pp, new StringSerializer(), new StringSerializer())) {
      md = producer.send(new ProducerRecord<>(TOPIC, "probe", payload)).get();
    }

    Properties cp = new Properties();
    cp.putAll(common);
    cp.put("group.id", GROUP);
    cp.put("enable.auto.commit", "false");
    try (KafkaConsumer<String, String> consumer =
        new KafkaConsumer<>(cp, new StringDeserializer(), new StringDeserializer())) {
      TopicPartition tp = new TopicPartition(TOPIC, md.partition());
      consumer.assign(List.of(tp));
      consumer.seek(tp, md.offset());
      long until = System.nanoTime() + Duration.ofSeconds(10).toNanos();
      while (System.nanoTime() < until) {
        for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
          if (payload.equals(r.value())) {
            consumer.commitSync(Map.of(tp, new OffsetAndMetadata(r.offset() + 1)));
            return String.format(
                "kafka round trip ok: cluster %s, %s-%d offset %d, group offset committed",
                clusterId, TOPIC, md.partition(), r.offset());
          }
        }
      }
      throw new IllegalStateException("the produced record was not read back within 10s");
    }
  }

  private static String describe(Throwable t) {
    if (t == null) {
      return "none (timeout before the first attempt)";
    }
    while (t instanceof ExecutionException && t.getCause() != null) {
      t = t.getCause();
    }
    return t.getClass().getSimpleName() + ": " + t.getMessage();
  }
}
