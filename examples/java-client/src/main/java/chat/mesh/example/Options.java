package chat.mesh.example;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/**
 * What the client was asked to do, from flags or, for each flag left out, its environment variable.
 * Parsing fails with a message naming the flag; nothing here touches the network.
 */
record Options(
    String target,
    String token,
    String peer,
    String text,
    String deviceId,
    int count,
    Duration timeout,
    boolean tls,
    Path positions,
    boolean help) {

  static final String USAGE = String.join("\n",
      "usage: java -jar chat-java-client.jar --token JWT [--to USER --text TEXT] [options]",
      "",
      "Opens chat.v1.GatewayService/Connect on chatd, says hello, sends TEXT to USER as a DM, and",
      "prints every frame it receives, one line each: <frame case> [#request_id] <text format>.",
      "",
      "  --target HOST:PORT  chatd's gRPC address (CHAT_GRPC_TARGET; default 127.0.0.1:9090)",
      "  --token JWT         a user token, sent as `authorization: Bearer` metadata (CHAT_TOKEN; required)",
      "  --to USER           the peer's user id (CHAT_PEER)",
      "  --text TEXT         the message; with --to, sends one DM (CHAT_TEXT)",
      "  --device ID         this device's id (CHAT_DEVICE; default java-client)",
      "  --count N           after the send, wait for N pushed messages (CHAT_COUNT; default 0)",
      "  --timeout-ms MS     give up after MS milliseconds (CHAT_TIMEOUT_MS; default 30000)",
      "  --tls               TLS instead of plaintext (CHAT_TLS=true)",
      "  --positions FILE    keep this device's resume positions in FILE: read for hello's",
      "                      resume_after, written at exit (CHAT_POSITIONS; default: none kept)",
      "",
      "Exit status: 0 done (or, with nothing to wait for, the timeout passed); 1 the server refused",
      "(an error frame for hello or the send, a failed stream, go_away); 2 bad usage; 3 timed out",
      "before the send was acknowledged or N messages arrived.");

  static Options parse(String[] args, Map<String, String> env) {
    String target = env.getOrDefault("CHAT_GRPC_TARGET", "127.0.0.1:9090");
    String token = env.get("CHAT_TOKEN");
    String peer = env.get("CHAT_PEER");
    String text = env.get("CHAT_TEXT");
    String device = env.getOrDefault("CHAT_DEVICE", "java-client");
    String count = env.getOrDefault("CHAT_COUNT", "0");
    String timeout = env.getOrDefault("CHAT_TIMEOUT_MS", "30000");
    boolean tls = "true".equals(env.get("CHAT_TLS"));
    String positions = env.get("CHAT_POSITIONS");
    boolean help = false;
    for (int i = 0; i < args.length; i++) {
      String flag = args[i];
      switch (flag) {
        case "-h", "-help", "--help" -> help = true;
        case "--tls" -> tls = true;
        case "--target" -> target = value(args, ++i, flag);
        case "--token" -> token = value(args, ++i, flag);
        case "--to" -> peer = value(args, ++i, flag);
        case "--text" -> text = value(args, ++i, flag);
        case "--device" -> device = value(args, ++i, flag);
        case "--count" -> count = value(args, ++i, flag);
        case "--timeout-ms" -> timeout = value(args, ++i, flag);
        case "--positions" -> positions = value(args, ++i, flag);
        default -> throw new IllegalArgumentException("unknown argument " + flag);
      }
    }
    Path positionsFile = positions == null || positions.isEmpty() ? null : Path.of(positions);
    if (help) return new Options(target, token, peer, text, device, 0, Duration.ZERO, tls, positionsFile, true);
    if (token == null || token.isEmpty()) throw new IllegalArgumentException("--token (CHAT_TOKEN) is required");
    if ((peer == null) != (text == null)) throw new IllegalArgumentException("--to and --text go together");
    if (text != null && text.isEmpty()) throw new IllegalArgumentException("--text must not be empty");
    return new Options(target, token, peer, text, device,
        number(count, "--count", 0), Duration.ofMillis(number(timeout, "--timeout-ms", 1)), tls, positionsFile, false);
  }

  /** True when a DM is to be sent. */
  boolean sends() {
    return text != null;
  }

  private static String value(String[] args, int i, String flag) {
    if (i >= args.length) throw new IllegalArgumentException(flag + " needs a value");
    return args[i];
  }

  private static int number(String s, String flag, int min) {
    try {
      int n = Integer.parseInt(s);
      if (n >= min) return n;
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new IllegalArgumentException(flag + " must be an integer >= " + min + ", got " + s);
  }
}
