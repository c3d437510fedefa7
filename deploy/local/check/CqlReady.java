import com.datastax.driver.core.Cluster;
import com.datastax.driver.core.ConsistencyLevel;
import com.datastax.driver.core.QueryOptions;
import com.datastax.driver.core.Row;
import com.datastax.driver.core.Session;
import com.datastax.driver.core.SimpleStatement;
import com.datastax.driver.core.policies.RoundRobinPolicy;
import com.datastax.driver.core.policies.WhiteListPolicy;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;

/**
 * Readiness probe used by deploy/local/up: retries a CQL query
 * (SELECT release_version, data_center FROM system.local) until it answers or
 * the time is up. Uses the Java driver that ships with cassandra-all.
 * Usage: CqlReady HOST[,HOST...] PORT TIMEOUT_SECONDS [PIDS_TO_WATCH [RF]]
 * PIDS_TO_WATCH is a comma-separated list ("-" for none).
 * With several hosts (the replicated set of up --ha), every host must answer,
 * list every other host in system.peers, and coordinate a write and a read of
 * keyspace chat_local_probe (replication factor RF, default 3) at consistency
 * ALL (QUORUM when fewer than RF hosts are named), so each one sees the others up.
 * Exit 0 ready, 2 timed out, 3 a watched process exited.
 */
public final class CqlReady {
  private static final String KEYSPACE = "chat_local_probe";

  public static void main(String[] args) throws InterruptedException {
    List<String> hosts = Arrays.asList(args[0].split(","));
    int port = Integer.parseInt(args[1]);
    long deadline = System.nanoTime() + Duration.ofSeconds(Long.parseLong(args[2])).toNanos();
    List<Long> pids = args.length > 3 && !args[3].equals("-")
        ? Arrays.stream(args[3].split(",")).map(Long::parseLong).toList()
        : List.of();
    int rf = args.length > 4 ? Integer.parseInt(args[4]) : 3;
    Throwable last = null;
    int attempts = 0;
    while (System.nanoTime() < deadline) {
      for (long pid : pids) {
        if (!ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
          System.err.println("[probe] cassandra process " + pid + " exited");
          System.exit(3);
        }
      }
      attempts++;
      try {
        Row row = null;
        for (String host : hosts) {
          row = check(host, port, hosts, rf);
        }
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

  /** Queries HOST alone; with several hosts, also the cluster checks. Returns its system.local row. */
  private static Row check(String host, int port, List<String> hosts, int rf) throws Exception {
    InetSocketAddress addr = new InetSocketAddress(host, port);
    Cluster.Builder builder = Cluster.builder()
        .addContactPointsWithPorts(addr)
        .withoutJMXReporting()
        .withoutMetrics()
        .withQueryOptions(new QueryOptions().setMetadataEnabled(false));
    if (hosts.size() > 1) {
      builder.withLoadBalancingPolicy(new WhiteListPolicy(new RoundRobinPolicy(), List.of(addr)));
    }
    Cluster cluster = builder.build();
    try {
      Session session = cluster.connect();
      Row row = session.execute("SELECT release_version, data_center FROM system.local").one();
      String what = "cql ok: " + (hosts.size() > 1 ? host + ", " : "")
          + "release_version " + row.getString("release_version")
          + ", data_center " + row.getString("data_center")
          + ", protocol " + cluster.getConfiguration().getProtocolOptions().getProtocolVersion();
      if (hosts.size() > 1) {
        what += ", " + replicated(session, host, hosts, rf);
      }
      System.out.println("[probe] " + what);
      if (hosts.size() > 1) {
        cluster.closeAsync();
      }
      // Otherwise left open: the probe halts the JVM when done (see main).
      return row;
    } catch (Exception e) {
      cluster.closeAsync();
      throw e;
    }
  }

  private static String replicated(Session session, String host, List<String> hosts, int rf)
      throws Exception {
    Set<InetAddress> peers = new HashSet<>();
    for (Row r : session.execute("SELECT peer FROM system.peers")) {
      peers.add(r.getInet("peer"));
    }
    List<String> missing = new ArrayList<>();
    for (String h : hosts) {
      if (!h.equals(host) && !peers.contains(InetAddress.getByName(h))) {
        missing.add(h);
      }
    }
    if (!missing.isEmpty()) {
      throw new IllegalStateException(host + " does not list " + missing + " in system.peers");
    }
    session.execute("CREATE KEYSPACE IF NOT EXISTS " + KEYSPACE + " WITH replication = "
        + "{'class': 'SimpleStrategy', 'replication_factor': " + rf + "}");
    session.execute("CREATE TABLE IF NOT EXISTS " + KEYSPACE + ".probe (k text PRIMARY KEY, v text)");
    ConsistencyLevel cl = hosts.size() >= rf ? ConsistencyLevel.ALL : ConsistencyLevel.QUORUM;
    String v = UUID.randomUUID().toString();
    session.execute(new SimpleStatement("INSERT INTO " + KEYSPACE + ".probe (k, v) VALUES (?, ?)", host, v)
        .setConsistencyLevel(cl));
    Row back = session.execute(new SimpleStatement("SELECT v FROM " + KEYSPACE + ".probe WHERE k = ?", host)
        .setConsistencyLevel(cl)).one();
    if (back == null || !v.equals(back.getString("v"))) {
      throw new IllegalStateException(host + ": the probe row was not read back at " + cl);
    }
    return peers.size() + " peers, write and read at " + cl + " over RF " + rf;
  }
}
