import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Readiness probe used by deploy/local/up: retries a produce/consume round
 * trip (plus a consumer-group offset commit) until it succeeds or the time
 * is up. Usage: KafkaReady BOOTSTRAP TIMEOUT_SECONDS [PIDS_TO_WATCH [RF [BROKERS]]]
 * PIDS_TO_WATCH is a comma-separated list ("-" for none). With a replication
 * factor RF above 1 (the replicated set of up --ha), the probe topic has RF
 * replicas, and the probe also waits until at least BROKERS (default RF)
 * brokers are registered and every live replica of every partition is in sync.
 * Exit 0 ready, 2 timed out, 3 a watched process exited.
 */
public final class KafkaReady {
  private static final String TOPIC = "_chat_local_probe";
  private static final String GROUP = "_chat_local_probe";

  public static void main(String[] args) throws InterruptedException {
    String bootstrap = args[0];
    long deadline = System.nanoTime() + Duration.ofSeconds(Long.parseLong(args[1])).toNanos();
    List<Long> pids = args.length > 2 && !args[2].equals("-")
        ? java.util.Arrays.stream(args[2].split(",")).map(Long::parseLong).toList()
        : List.of();
    short rf = args.length > 3 ? Short.parseShort(args[3]) : 1;
    int brokers = args.length > 4 ? Integer.parseInt(args[4]) : rf;
    Throwable last = null;
    int attempts = 0;
    while (System.nanoTime() < deadline) {
      for (long pid : pids) {
        if (!ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
          System.err.println("[probe] kafka process " + pid + " exited");
          System.exit(3);
        }
      }
      attempts++;
      try {
        System.out.println("[probe] " + roundTrip(bootstrap, rf, brokers));
        return;
      } catch (Exception e) {
        last = e;
      }
      Thread.sleep(500);
    }
    System.err.println("[probe] no round trip after " + attempts + " attempts; last error: " + describe(last));
    System.exit(2);
  }

  private static String roundTrip(String bootstrap, short rf, int brokers) throws Exception {
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
        admin.createTopics(List.of(new NewTopic(TOPIC, 1, rf))).all().get();
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
            String replicas = rf > 1 ? ", " + inSync(common, brokers) : "";
            return String.format(
                "kafka round trip ok: cluster %s, %s-%d offset %d, group offset committed%s",
                clusterId, TOPIC, md.partition(), r.offset(), replicas);
          }
        }
      }
      throw new IllegalStateException("the produced record was not read back within 10s");
    }
  }

  /**
   * Throws unless at least {@code brokers} brokers are registered and every replica on a live
   * broker is in its partition's ISR (a restarted broker has caught up). Checks every topic,
   * internal ones included.
   */
  private static String inSync(Properties common, int brokers) throws Exception {
    try (Admin admin = Admin.create(common)) {
      Set<Integer> live = admin.describeCluster().nodes().get().stream()
          .map(Node::id).collect(Collectors.toSet());
      if (live.size() < brokers) {
        throw new IllegalStateException(live.size() + " of " + brokers + " brokers registered: " + live);
      }
      Set<String> names = admin.listTopics(new org.apache.kafka.clients.admin.ListTopicsOptions()
          .listInternal(true)).names().get();
      int partitions = 0;
      for (TopicDescription t : admin.describeTopics(names).allTopicNames().get().values()) {
        for (TopicPartitionInfo p : t.partitions()) {
          partitions++;
          for (Node r : p.replicas()) {
            if (live.contains(r.id()) && p.isr().stream().noneMatch(n -> n.id() == r.id())) {
              throw new IllegalStateException(String.format(
                  "broker %d not yet in sync for %s-%d (isr %s)", r.id(), t.name(), p.partition(), p.isr()));
            }
          }
        }
      }
      return String.format("%d brokers %s, %d partitions in sync", live.size(), live, partitions);
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
