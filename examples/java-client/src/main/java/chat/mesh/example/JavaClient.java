package chat.mesh.example;

import chat.v1.Gateway.Ack;
import chat.v1.Gateway.ConnectRequest;
import chat.v1.Gateway.ConnectResponse;
import chat.v1.Gateway.GapReason;
import chat.v1.Gateway.Heartbeat;
import chat.v1.Gateway.Hello;
import chat.v1.Gateway.HistoryPage;
import chat.v1.Gateway.HistoryQuery;
import chat.v1.Gateway.ResumeGap;
import chat.v1.Gateway.Send;
import chat.v1.Gateway.SendAck;
import chat.v1.GatewayServiceGrpc;
import chat.v1.Message.ChatMessage;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A chat client in Java, on code protoc generates from the repo's proto/ at build time: it opens
 * chat.v1.GatewayService/Connect with the token as `authorization: Bearer` metadata, says `hello`
 * (the first frame must be hello), sends one DM, prints every frame it receives, acknowledges the
 * messages it printed, and heartbeats at the interval `welcome` gives. See {@link Options#USAGE}.
 *
 * <p>It resumes by position (docs/clients.md "How a client resumes"): {@link HeldPositions} tracks,
 * per conversation, the message up to which it holds every message, from their {@code seq}
 * numbers. {@code hello} presents those positions as {@code resume_after} (kept across runs with
 * {@code --positions}); the replay that follows counts at {@code resume_complete}; a gap is paged
 * forward with {@code history}; every ack names the held positions of its conversations in
 * {@code held_through}, which the server saves as this device's exact resume position.
 */
public final class JavaClient {
  private static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
  private static final String HELLO_ID = "hello";
  private static final String SEND_ID = "send";
  /** Request ids of history pages that page a gap forward: this prefix, then the conversation id. */
  private static final String PAGE_ID = "page:";
  private static final int PAGE_SIZE = 100;
  /** After a HISTORY_BEHIND gap, how long to wait before paging it. */
  private static final long HISTORY_BEHIND_RETRY_MS = 1_000;
  /** How old the message after a hole in a page read forward must be before the hole is jumped. */
  private static final long HOLE_TIMEOUT_MS = 60_000;

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

  private final HeldPositions positions;
  // The replay after hello, from welcome to resume_complete; only the gRPC callback thread (and the
  // paging it schedules, under `this`) touches what follows.
  private volatile boolean replaying = true;
  private final Map<String, List<ChatMessage>> replay = new LinkedHashMap<>();
  private final Map<String, ResumeGap> gaps = new LinkedHashMap<>();
  /** Live messages and send_acks that arrived during the replay: they count after it. */
  private final List<Object> live = new ArrayList<>();
  /** What to acknowledge once the replay is over. */
  private final List<Long> ackIds = new ArrayList<>();
  private final Set<String> ackConversations = new LinkedHashSet<>();
  /** Per conversation being paged forward, the after_id of the page asked for. */
  private final Map<String, Long> paging = new LinkedHashMap<>();

  private JavaClient(Options opts, PrintStream out, Map<String, HeldPositions.Position> saved) {
    this.opts = opts;
    this.out = out;
    this.positions = new HeldPositions(saved, HOLE_TIMEOUT_MS, System::currentTimeMillis);
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
    Map<String, HeldPositions.Position> saved = Map.of();
    try {
      if (opts.positions() != null) saved = HeldPositions.load(opts.positions());
    } catch (IOException e) {
      System.err.println("java-client: cannot read --positions " + opts.positions() + ": " + e.getMessage());
      System.exit(2);
      return;
    }
    System.exit(new JavaClient(opts, out, saved).run());
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
            .setHello(Hello.newBuilder().setDeviceId(opts.deviceId()).putAllResumeAfter(positions.heldThrough())).build());
      }
      return awaitOutcome();
    } finally {
      heartbeats.shutdownNow();
      synchronized (this) {
        if (requests != null && !outcome.isCompletedExceptionally()) halfClose();
      }
      if (opts.positions() != null) {
        try {
          positions.save(opts.positions());
        } catch (IOException e) {
          System.err.println("java-client: cannot write --positions " + opts.positions() + ": " + e.getMessage());
        }
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

  /**
   * Finishes successfully once nothing is awaited any more and the replay is over (its acks sent);
   * with nothing ever awaited, the timeout ends the run.
   */
  private void finishIfDone() {
    if ((opts.sends() || opts.count() > 0) && !stillWaiting() && !replaying) outcome.complete(0);
  }

  /** A live message or a send_ack: it moves the held position, after the replay if one is under way. */
  private synchronized void numbered(Object frame) {
    if (replaying) live.add(frame);
    else if (frame instanceof ChatMessage m) positions.receive(m);
    else positions.receive((SendAck) frame);
  }

  /**
   * Acknowledges message ids (DELIVERED) and names, for each of the conversations, the id up to
   * which this device holds every message (held_through, its exact resume position; without it the
   * server would save the newest acked id as a hint). Held back until the replay is over: before
   * that, a conversation without a position could be started past what the replay still brings.
   */
  private synchronized void ack(List<Long> ids, Iterable<String> conversations) {
    ackIds.addAll(ids);
    conversations.forEach(ackConversations::add);
    if (replaying) return;
    Ack ack = Ack.newBuilder().addAllMessageIds(ackIds).putAllHeldThrough(positions.heldThrough(ackConversations)).build();
    ackIds.clear();
    ackConversations.clear();
    if (ack.getMessageIdsCount() > 0 || ack.getHeldThroughCount() > 0) write(ConnectRequest.newBuilder().setAck(ack).build());
  }

  /**
   * The replay is over: its pages move positions (all at once, unless a gap other than REPLAY_LIMIT
   * named the conversation: then only contiguous numbers count), a conversation such a gap names
   * that has no position starts at the gap's after_id, and the live frames held back count. Then
   * what arrived is acknowledged and every gap is paged forward.
   */
  private synchronized void resumeComplete() {
    if (!replaying) return;
    replaying = false;
    for (ResumeGap g : gaps.values()) {
      if (g.getReason() != GapReason.GAP_REASON_REPLAY_LIMIT && !positions.has(g.getConversationId())) positions.startAt(g.getConversationId(), g.getAfterId());
    }
    replay.forEach((conversationId, messages) -> {
      ResumeGap g = gaps.get(conversationId);
      if (g != null && g.getReason() != GapReason.GAP_REASON_REPLAY_LIMIT) messages.forEach(positions::receive);
      else positions.replayed(conversationId, messages);
    });
    live.forEach(this::numbered);
    live.clear();
    Set<String> touched = new LinkedHashSet<>(replay.keySet());
    touched.addAll(gaps.keySet());
    ack(List.of(), touched);
    for (ResumeGap g : gaps.values()) {
      long delay = g.getReason() == GapReason.GAP_REASON_HISTORY_BEHIND ? HISTORY_BEHIND_RETRY_MS : 0;
      try {
        heartbeats.schedule(() -> pageForward(g.getConversationId(), g.getAfterId()), delay, TimeUnit.MILLISECONDS);
      } catch (RejectedExecutionException e) {
        return; // the run is over
      }
    }
  }

  /** Asks for the page of a conversation after {@code afterId}. */
  private synchronized void pageForward(String conversationId, long afterId) {
    paging.put(conversationId, afterId);
    write(ConnectRequest.newBuilder().setRequestId(PAGE_ID + conversationId).setHistory(HistoryQuery.newBuilder()
        .setConversationId(conversationId).setAfterId(afterId).setLimit(PAGE_SIZE)).build());
  }

  /**
   * A history page: part of the replay (answering hello), or of a gap paged forward. A page read
   * forward from the held id moves it like a replay; one read from elsewhere counts only contiguous
   * numbers.
   */
  private synchronized void page(String requestId, HistoryPage page) {
    String conversationId = page.getConversationId();
    List<Long> ids = page.getMessagesList().stream().map(ChatMessage::getMessageId).toList();
    if (requestId.equals(HELLO_ID)) {
      replay.computeIfAbsent(conversationId, c -> new ArrayList<>()).addAll(page.getMessagesList());
      ack(ids, List.of(conversationId));
      return;
    }
    if (!requestId.startsWith(PAGE_ID)) return;
    Long afterId = paging.remove(conversationId);
    if (afterId == null) return;
    if (afterId.equals(positions.heldId(conversationId))) positions.replayed(conversationId, page.getMessagesList());
    else page.getMessagesList().forEach(positions::receive);
    ack(ids, List.of(conversationId));
    if (page.getHasMore() && page.getMessagesCount() > 0) pageForward(conversationId, ids.get(ids.size() - 1));
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
          numbered(frame.getSendAck());
          ack(List.of(), List.of(frame.getSendAck().getConversationId()));
        }
        case MESSAGE -> {
          received++;
          numbered(frame.getMessage());
          ack(List.of(frame.getMessage().getMessageId()), List.of(frame.getMessage().getConversationId()));
        }
        case HISTORY_PAGE -> page(frame.getRequestId(), frame.getHistoryPage());
        case GAP -> {
          synchronized (JavaClient.this) {
            gaps.put(frame.getGap().getConversationId(), frame.getGap());
          }
        }
        case RESUME_COMPLETE -> resumeComplete();
        case ERROR -> {
          String id = frame.getRequestId();
          if (id.equals(HELLO_ID) || id.equals(SEND_ID)) outcome.complete(1);
        }
        case GO_AWAY -> outcome.complete(1);
        default -> {
          // Printed above; nothing to do for other frames (presence, pong, newer cases).
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
