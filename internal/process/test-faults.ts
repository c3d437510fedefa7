import type { Logger } from 'pino';
import type { ChatMessage } from '../../gen/chat/v1/message';

/**
 * A test-only fault point of a chat server, from `CHAT_TEST_FAULT` (config refuses it unless
 * `NODE_ENV=test`). The fault suite uses them to provoke what no outside fault can time exactly
 * (e2e/faults/resume.faults.spec.ts):
 * - `die-after-append:<marker>`: the server SIGKILLs itself as soon as a send whose text contains
 *   `<marker>` is durable in the message log, before it is delivered to anyone or acknowledged;
 * - `hold-fallback:<ms>`: every delivery that reaches the server through its Kafka fallback topic
 *   is held `<ms>` before it is pushed to the server's connections (a slow fallback path).
 */
export type TestFault = { kind: 'die-after-append'; marker: string } | { kind: 'hold-fallback'; holdMs: number };

/** What `CHAT_TEST_FAULT` accepts (the config schema checks the same form at startup). */
const TEST_FAULT_PATTERN = /^(die-after-append:.+|hold-fallback:\d{1,9})$/s;

/** Reads a `CHAT_TEST_FAULT` value; throws on anything else. */
export function parseTestFault(value: string): TestFault {
  if (!TEST_FAULT_PATTERN.test(value)) throw new Error(`CHAT_TEST_FAULT=${JSON.stringify(value)}: expected die-after-append:<marker> or hold-fallback:<ms>`);
  const at = value.indexOf(':');
  const [kind, arg] = [value.slice(0, at), value.slice(at + 1)];
  return kind === 'die-after-append' ? { kind, marker: arg } : { kind: 'hold-fallback', holdMs: Number(arg) };
}

/**
 * MessageService's `afterAppend` for `die-after-append`: kills the process (SIGKILL, no drain, no
 * flush) once a message whose text holds the marker is durable. Undefined for any other fault.
 */
export function dieAfterAppend(value: string | undefined, log: Logger, kill: () => void = () => process.kill(process.pid, 'SIGKILL')): ((message: ChatMessage) => void) | undefined {
  const fault = value === undefined ? undefined : parseTestFault(value);
  if (fault?.kind !== 'die-after-append') return undefined;
  log.warn({ marker: fault.marker }, 'CHAT_TEST_FAULT: this server SIGKILLs itself after appending a send that contains the marker');
  return (message) => {
    if (!message.text.includes(fault.marker)) return;
    // Written synchronously (stderr is a pipe or a file in the fault mesh), so the log shows why it died.
    process.stderr.write(`CHAT_TEST_FAULT die-after-append: ${message.messageId} (seq ${message.seq}) of ${message.conversationId} is in the log; SIGKILL before any push or ack\n`);
    kill();
  };
}

/**
 * DeliveryFallback's `holdDeliveries` for `hold-fallback`: defers each fallback record's deliveries
 * by the fault's milliseconds (in order; the records behind it are not held up by it). Undefined
 * for any other fault.
 */
export function holdFallback(value: string | undefined, log: Logger): ((deliver: () => void) => void) | undefined {
  const fault = value === undefined ? undefined : parseTestFault(value);
  if (fault?.kind !== 'hold-fallback') return undefined;
  log.warn({ holdMs: fault.holdMs }, 'CHAT_TEST_FAULT: deliveries from the Kafka fallback are held before they are pushed');
  return (deliver) => void setTimeout(deliver, fault.holdMs);
}
