import com.datastax.driver.core.Cluster;
import com.datastax.driver.core.QueryOptions;
import com.datastax.driver.core.Row;
import com.datastax.driver.core.Session;
import java.net.InetSocketAddress;
import java.time.Duration;

/**
 * Readiness probe used by deploy/local/up: retries a CQL query
 * (SELECT release_version, data_center FROM system.local) until it answers or
 * the time is up. Uses the Java driver that ships with cassandra-all.
 * Usage: CqlReady HOST PORT TIMEOUT_SECONDS [PID_TO_WATCH]
 * Exit 0 ready, 2 timed out, 3 the watched process exited.
 */
public final class CqlReady {
  public static void main(String[] args) throws InterruptedException {
    String host = args[0];
    int port = Integer.parseInt(args[1]);
    long deadline = System.nanoTime() + Duration.ofSeconds(Long.parseLong(args[2])).toNanos();
    long pid = args.length > 3 ? Long.parseLong(args[3]) : -1;
    Throwable last = null;
    int attempts = 0;
    while (System.nanoTime() < deadline) {
      if (pid > 0 && !ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
        System.err.println("[probe] cassandra process " + pid + " exited");
        System.exit(3);
      }
      attempts++;
      try (Cluster cluster = Cluster.builder()
              .addContactPointsWithPorts(new InetSocketAddress(host, port))
              .withoutJMXReporting()
              .withoutMetrics()
              .withQueryOptions(new QueryOptions().setMetadataEnabled(false))
              .build();
          Session session = cluster.connect()) {
        Row row = session.execute("SELECT release_version, data_center FROM system.local").one();
        System.out.println("[probe] cql ok: release_version " + row.getString("release_version")
            + ", data_center " + row.getString("data_center")
            + ", protocol " + cluster.getConfiguration().getProtocolOptions().getProtocolVersion());
        System.out.println("release_version=" + row.getString("release_version"));
        System.out.println("data_center=" + row.getString("data_center"));
        System.out.flush();
        // Skip the driver's graceful close (netty's 2s quiet period): nothing to flush.
        Runtime.getRuntime().halt(0);
      } catch (Exception e) {
        last = e;
      }
      Thread.sleep(1000);
    }
    System.err.println("[probe] no CQL answer after " + attempts + " attempts; last error: "
        + (last == null ? "none" : last.getClass().getSimpleName() + ": " + last.getMessage()));
    System.exit(2);
  }
}
