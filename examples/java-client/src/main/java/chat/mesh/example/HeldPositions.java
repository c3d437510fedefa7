package chat.mesh.example;

import chat.v1.Gateway.SendAck;
import chat.v1.Message.ChatMessage;
import com.google.protobuf.Timestamp;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * A device's exact resume positions: per conversation, the message up to which it holds every
 * message, from the {@code seq} numbers of what it receives. The rules are those of the TypeScript
 * client (internal/client/held-positions.ts) and of docs/clients.md "How a client resumes":
 *
 * <ul>
 *   <li>A live message or a send_ack numbered right after the held one moves it; one further on
 *       waits ("ahead") until the numbers between arrive.
 *   <li>A page the server replayed after the held id (a resume not followed by a gap other than
 *       REPLAY_LIMIT, or history paged forward from the held id) holds every message in its range:
 *       it moves the position through the numbers it makes contiguous and across the start of a
 *       new epoch (seq 1). It jumps a hole only when the message after it is older than the hole
 *       timeout (a send that took a number and never completed).
 *   <li>The first numbered message of a conversation with no position starts it there.
 *   <li>Unnumbered messages (seq 0) are not tracked.
 * </ul>
 *
 * <p>The held id is what {@code hello.resume_after} and {@code ack.held_through} name. Methods are
 * synchronized: the gRPC callback thread moves positions, the main thread saves them at exit.
 */
final class HeldPositions {
  /** Where a device holds every message of a conversation up to: that message's id and numbers. */
  record Position(long messageId, long seq, long epoch) {}

  private static final class Tracked {
    Position held;
    /** Received past a missing number, by "epoch/seq". */
    final Map<String, Position> ahead = new HashMap<>();

    Tracked(Position held) {
      this.held = held;
    }
  }

  private final Map<String, Tracked> tracked = new LinkedHashMap<>();
  private final long holeTimeoutMs;
  private final LongSupplier nowMs;

  HeldPositions(Map<String, Position> initial, long holeTimeoutMs, LongSupplier nowMs) {
    this.holeTimeoutMs = holeTimeoutMs;
    this.nowMs = nowMs;
    initial.forEach((conversationId, p) -> tracked.put(conversationId, new Tracked(p)));
  }

  /**
   * The device holds every message of the conversation up to {@code messageId} and none after it
   * (where a resume it could not be served resumed from): the next message to hold is the first
   * one after it, seq 1 live or whatever a page read forward from there begins with.
   */
  synchronized void startAt(String conversationId, long messageId) {
    tracked.put(conversationId, new Tracked(new Position(messageId, 0, 0)));
  }

  /** A message received live. True when the held position moved. */
  synchronized boolean receive(ChatMessage m) {
    return receive(m.getConversationId(), new Position(m.getMessageId(), m.getSeq(), m.getEpoch()));
  }

  /** The numbers of a send_ack. True when the held position moved. */
  synchronized boolean receive(SendAck a) {
    return receive(a.getConversationId(), new Position(a.getMessageId(), a.getSeq(), a.getEpoch()));
  }

  private boolean receive(String conversationId, Position m) {
    if (m.seq() == 0) return false;
    Tracked t = tracked.get(conversationId);
    if (t == null) {
      tracked.put(conversationId, new Tracked(m));
      return true;
    }
    if (covered(t.held, m)) return false;
    t.ahead.put(key(m.epoch(), m.seq()), m);
    return advance(t);
  }

  /**
   * Messages the server replayed after this device's held id in one conversation, oldest first.
   * True when the held position moved.
   */
  synchronized boolean replayed(String conversationId, List<ChatMessage> messages) {
    Tracked t = tracked.get(conversationId);
    boolean moved = false;
    for (ChatMessage cm : messages) {
      if (cm.getSeq() == 0) continue;
      Position m = new Position(cm.getMessageId(), cm.getSeq(), cm.getEpoch());
      if (t == null) {
        t = new Tracked(m);
        tracked.put(conversationId, t);
        moved = true;
        continue;
      }
      if (covered(t.held, m)) continue;
      // From a start (seq 0) the page's first message is the first after it, whatever its number.
      boolean next = t.held.seq() == 0 || follows(t.held, m) || (m.epoch() > t.held.epoch() && m.seq() == 1);
      if (next || stale(cm)) {
        t.held = m;
        moved = true;
      } else {
        t.ahead.put(key(m.epoch(), m.seq()), m);
      }
    }
    if (t != null) moved = advance(t) || moved;
    return moved;
  }

  synchronized boolean has(String conversationId) {
    return tracked.containsKey(conversationId);
  }

  synchronized Long heldId(String conversationId) {
    Tracked t = tracked.get(conversationId);
    return t == null ? null : t.held.messageId();
  }

  /** Conversation id to held message id, for the given conversations that have a position. */
  synchronized Map<String, Long> heldThrough(Collection<String> conversationIds) {
    Map<String, Long> out = new LinkedHashMap<>();
    for (String id : conversationIds) {
      Tracked t = tracked.get(id);
      if (t != null) out.put(id, t.held.messageId());
    }
    return out;
  }

  /** Every conversation's held message id: {@code hello.resume_after}. */
  synchronized Map<String, Long> heldThrough() {
    return heldThrough(new ArrayList<>(tracked.keySet()));
  }

  /**
   * Reads positions saved by {@link #save}: one line per conversation, {@code <conversation_id>
   * <message_id> <seq> <epoch>}. A missing file holds none.
   */
  static Map<String, Position> load(Path file) throws IOException {
    Map<String, Position> out = new LinkedHashMap<>();
    if (!Files.exists(file)) return out;
    for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
      String[] f = line.trim().split("\\s+");
      if (f.length != 4) continue;
      try {
        out.put(f[0], new Position(Long.parseLong(f[1]), Long.parseLong(f[2]), Long.parseLong(f[3])));
      } catch (NumberFormatException e) {
        // A damaged line: that conversation resumes from what the server saved.
      }
    }
    return out;
  }

  /** Writes every held position (write, then rename: a crash leaves the old file or the new one). */
  synchronized void save(Path file) throws IOException {
    StringBuilder text = new StringBuilder();
    tracked.forEach((id, t) -> text.append(id).append(' ').append(t.held.messageId()).append(' ')
        .append(t.held.seq()).append(' ').append(t.held.epoch()).append('\n'));
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    Files.writeString(tmp, text, StandardCharsets.UTF_8);
    Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
  }

  private boolean advance(Tracked t) {
    boolean moved = false;
    for (;;) {
      Position next = null;
      if (t.held.seq() == 0) {
        for (Position p : t.ahead.values()) if (p.seq() == 1 && next == null) next = p;
      } else {
        next = t.ahead.get(key(t.held.epoch(), t.held.seq() + 1));
      }
      if (next == null) break;
      t.ahead.remove(key(next.epoch(), next.seq()));
      t.held = next;
      moved = true;
    }
    Position held = t.held;
    t.ahead.values().removeIf(p -> covered(held, p));
    return moved;
  }

  private boolean stale(ChatMessage m) {
    if (!m.hasCreatedAt()) return false;
    Timestamp ts = m.getCreatedAt();
    return nowMs.getAsLong() - (ts.getSeconds() * 1000 + ts.getNanos() / 1_000_000) > holeTimeoutMs;
  }

  private static String key(long epoch, long seq) {
    return epoch + "/" + seq;
  }

  /** Whether the held position already covers {@code m}: an older epoch, or a number at or below it. A start covers nothing. */
  private static boolean covered(Position held, Position m) {
    if (held.seq() == 0) return false;
    return m.epoch() < held.epoch() || (m.epoch() == held.epoch() && m.seq() <= held.seq());
  }

  private static boolean follows(Position held, Position m) {
    return m.epoch() == held.epoch() && m.seq() == held.seq() + 1;
  }
}
