/** IPC messages between the loadgen coordinator and its worker processes. Times are µs on the monotonic clock (frames.ts nowUs). */

export interface ConnectCommand {
  op: 'connect';
  /** Server WS URLs; user i connects to urls[targetOf[i]] (several servers: the mesh). */
  urls: string[];
  users: string[];
  targetOf: number[];
  secret: string;
  heartbeatMs: number;
  /** Client source addresses, used round-robin (each gets its own 28k ephemeral ports). */
  localAddresses: string[];
  /** Handshakes in flight at once in this worker. */
  concurrency: number;
}

export interface Sender {
  user: string;
  conversationId: string;
}

/** Sends from `startUs`; latency and deliveries count for messages stamped in [measureFromUs, measureToUs). */
export interface LoadCommand {
  op: 'load';
  mode: 'open' | 'max';
  runId: string;
  senders: Sender[];
  /** open: this worker's share of the total rate. */
  ratePerSec: number;
  /** max: sends in flight per sender (closed loop on send_ack). */
  window: number;
  textBytes: number;
  startUs: number;
  measureFromUs: number;
  measureToUs: number;
}

/** Each sender sends `perSender` messages, 8 in flight; answers `seeded` with the acked ids. */
export interface SeedCommand {
  op: 'seed';
  runId: string;
  senders: Sender[];
  perSender: number;
  textBytes: number;
}

/** Each reader asks for pages of `limit` before a random id of its list, one page in flight. */
export interface HistoryCommand {
  op: 'history';
  readers: { user: string; conversationId: string; beforeIds: string[] }[];
  limit: number;
  startUs: number;
  measureFromUs: number;
  measureToUs: number;
}

/** One user of the flat-cost workload (flat-plan.ts): the DMs it sends and types in, the users it watches. */
export interface FlatUserCommand {
  user: string;
  conversations: string[];
  watch: string[];
}

/**
 * Sets the flat-cost workload up: each user sends one untimed message to each of its
 * conversations (so they exist), then subscribes to the presence of its `watch` users, again every
 * `retryMs` while some are refused (the conversation not yet in history), until `deadlineMs`
 * (epoch ms). Answers `flatReady`.
 */
export interface FlatSetupCommand {
  op: 'flatSetup';
  runId: string;
  users: FlatUserCommand[];
  retryMs: number;
  deadlineMs: number;
  /** Users of this worker in setup at once (seeding and subscribing), at most; the next starts as one is done. */
  concurrency: number;
}

/**
 * The flat-cost load, open loop from `startUs` to `measureToUs`: sends round-robin over `pairs` at
 * `ratePerSec` (timed like `load`), typing frames over the same pairs at `typingPerSec`, and
 * `churnPerSec` users (in `churn` order) closing their connection and opening a new one
 * `offlineMs` later, which subscribes again to its users. Counts go to the phase's `counts`.
 */
export interface FlatLoadCommand {
  op: 'flatLoad';
  runId: string;
  pairs: Sender[];
  ratePerSec: number;
  typingPerSec: number;
  churn: string[];
  churnPerSec: number;
  offlineMs: number;
  textBytes: number;
  startUs: number;
  measureFromUs: number;
  measureToUs: number;
}

export type ToWorker = ConnectCommand | LoadCommand | SeedCommand | HistoryCommand | FlatSetupCommand | FlatLoadCommand | { op: 'report' } | { op: 'close' };

export interface WorkerReport {
  op: 'report';
  sent: number;
  /** Sends stamped inside the measured window. */
  sentInWindow: number;
  acked: number;
  delivered: number;
  pages: number;
  open: number;
  errors: Record<string, number>;
  /** Other things the phase counted by name (flat: typing frames sent, reconnects). */
  counts: Record<string, number>;
  /** HDR histogram of latencies in µs, compressed base64. */
  latency: string;
}

export type ToParent =
  | { op: 'ready' }
  | { op: 'progress'; open: number; sent: number; delivered: number; pages: number }
  | { op: 'connected'; count: number; failed: number; seconds: number; errors: Record<string, number> }
  | { op: 'seeded'; ids: Record<string, string[]>; errors: Record<string, number> }
  /** Users set up; `subscribed` of them watch every user they asked for. */
  | { op: 'flatReady'; users: number; subscribed: number }
  | WorkerReport;
