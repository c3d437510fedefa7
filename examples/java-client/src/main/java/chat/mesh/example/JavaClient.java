package chat.mesh.example;

import chat.v1.Gateway.Ack;
import chat.v1.Gateway.ConnectRequest;
import chat.v1.Gateway.ConnectResponse;
import chat.v1.Gateway.Heartbeat;
import chat.v1.Gateway.Hello;
import chat.v1.Gateway.Send;
import chat.v1.GatewayServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A chat client in Java, on code protoc generates from the repo's proto/ at build time: it opens
 * chat.v1.GatewayService/Connect with the token as `authorization: Bearer` metadata, says `hello`
 * (the first frame must be hello), sends one DM, prints every frame it receives, acknowledges the
 * messages it printed, and heartbeats at the interval `welcome` gives. See {@link Options#USAGE}.
 */
public final class JavaClient {
  private static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
  private static final String HELLO_ID = "hello";
  private static final String SEND_ID = "send";

  private final Options opts;
  private final PrintStream out;
  private final CompletableFuture<Integer> outcome = new CompletableFuture<>();
  private final ScheduledExecutorService heartbeats = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "heartbeat");
    t.setDaemon(true);
    return t;
  });
  /** Written from the gRPC callback thread and the heartbeat thread; a StreamObserver is not thread-safe. */
  private StreamObserver<ConnectRequest> requests;
  /** Read by the main thread after a timeout, so volatile. */
  private volatile boolean sendAcked;
  private volatile int received;
  /** Set before this client half-closes, so the server's end of the stream is expected, not news. */
  private volatile boolean closing;

  private JavaClient(Options opts, PrintStream out) {
    this.opts = opts;
    this.out = out;
  }

  public static void main(String[] args) {
    PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
    Options opts;
    try {
      opts = Options.parse(args, System.getenv());
    } catch (IllegalArgumentException e) {
      System.err.println("java-client: " + e.getMessage());
      System.err.println(Options.USAGE);
      System.exit(2);
      return;
    }
    if (opts.help()) {
      out.println(Options.USAGE);
      return;
    }
    System.exit(new JavaClient(opts, out).run());
  }

  /** Runs the session and returns the exit status. */
  private int run() {
    ManagedChannelBuilder<?> builder = ManagedChannelBuilder.forTarget(opts.target());
    ManagedChannel channel = (opts.tls() ? builder.useTransportSecurity() : builder.usePlaintext()).build();
    Metadata headers = new Metadata();
    headers.put(AUTHORIZATION, "Bearer " + opts.token());
    try {
      GatewayServiceGrpc.GatewayServiceStub stub = GatewayServiceGrpc.newStub(channel)
          .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
      synchronized (this) {
        requests = stub.connect(new Responses());
        // The token travels as metadata, so hello leaves its token field empty.
        write(ConnectRequest.newBuilder().setRequestId(HELLO_ID)
            .setHello(Hello.newBuilder().setDeviceId(opts.deviceId())).build());
      }
      return awaitOutcome();
    } finally {
      heartbeats.shutdownNow();
      synchronized (this) {
        if (requests != null && !outcome.isCompletedExceptionally()) halfClose();
      }
      channel.shutdown();
      try {
        if (!channel.awaitTermination(2, TimeUnit.SECONDS)) channel.shutdownNow();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        channel.shutdownNow();
      }
    }
  }

  private int awaitOutcome() {
    try {
      return outcome.get(opts.timeout().toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      if (!stillWaiting()) return 0;
      System.err.printf("java-client: timed out after %d ms (send acknowledged: %s, messages: %d of %d)%n",
          opts.timeout().toMillis(), opts.sends() ? sendAcked : "n/a", received, opts.count());
      return 3;
    } catch (ExecutionException e) {
      return 1;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return 1;
    }
  }

  /** True while the send's ack or some of the N messages have yet to arrive. */
  private boolean stillWaiting() {
    return (opts.sends() && !sendAcked) || received < opts.count();
  }

  /** Finishes successfully once nothing is awaited any more; with nothing ever awaited, the timeout ends the run. */
  private void finishIfDone() {
    if ((opts.sends() || opts.count() > 0) && !stillWaiting()) outcome.complete(0);
  }

  private synchronized void write(ConnectRequest frame) {
    if (!outcome.isDone()) requests.onNext(frame);
  }

  private synchronized void halfClose() {
    closing = true;
    try {
      requests.onCompleted();
    } catch (IllegalStateException e) {
      // The stream already ended; nothing to close.
    }
  }

  /** The DM conversation id, as every client computes it: both user ids sorted, joined by ':'. */
  static String dmConversationId(String a, String b) {
    return a.compareTo(b) < 0 ? "dm:" + a + ":" + b : "dm:" + b + ":" + a;
  }

  private final class Responses implements StreamObserver<ConnectResponse> {
    @Override
    public void onNext(ConnectResponse frame) {
      out.println(FrameLines.format(frame));
      switch (frame.getFrameCase()) {
        case WELCOME -> {
          long every = Math.max(1000, frame.getWelcome().getHeartbeatIntervalMs());
          heartbeats.scheduleAtFixedRate(
              () -> write(ConnectRequest.newBuilder().setHeartbeat(Heartbeat.getDefaultInstance()).build()),
              every, every, TimeUnit.MILLISECONDS);
          if (opts.sends()) {
            write(ConnectRequest.newBuilder().setRequestId(SEND_ID).setSend(Send.newBuilder()
                .setConversationId(dmConversationId(frame.getWelcome().getUserId(), opts.peer()))
                .setClientMsgId(UUID.randomUUID().toString())
                .setText(opts.text())).build());
          }
        }
        case SEND_ACK -> {
          if (frame.getRequestId().equals(SEND_ID)) sendAcked = true;
        }
        case MESSAGE -> {
          received++;
          write(ConnectRequest.newBuilder()
              .setAck(Ack.newBuilder().addMessageIds(frame.getMessage().getMessageId())).build());
        }
        case ERROR -> {
          String id = frame.getRequestId();
          if (id.equals(HELLO_ID) || id.equals(SEND_ID)) outcome.complete(1);
        }
        case GO_AWAY -> outcome.complete(1);
        default -> {
          // Printed above; nothing to do for other frames (presence, pong, history pages, newer cases).
        }
      }
      finishIfDone();
    }

    @Override
    public void onError(Throwable t) {
      if (closing) return;
      Status status = Status.fromThrowable(t);
      System.err.println("java-client: stream failed: " + status.getCode()
          + (status.getDescription() == null ? "" : ": " + status.getDescription()));
      outcome.completeExceptionally(t);
    }

    @Override
    public void onCompleted() {
      if (closing) return;
      System.err.println("java-client: the server ended the stream");
      outcome.complete(stillWaiting() ? 1 : 0);
    }
  }
}
