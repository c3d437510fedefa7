/**
 * The flat-cost workload's shape (mesh-flat.ts): the same work per chat server whatever the number
 * of servers S, so that what one server consumes can be compared across S. Each server holds
 * `users` users (user i on server i mod S, as everywhere in the loadgen). Each user DMs and watches
 * one user of its own server and `remoteWatch` users of other servers, and what each server is
 * interested in is the same size at every S:
 *
 * - every user v has one watcher server w(v) ≠ its own, spread evenly, and each server is the
 *   watcher server of exactly `users` users of the others (W(s)), drawn from every other server;
 * - a user of server s watches and DMs `remoteWatch` users of W(s) (each member of W(s) by
 *   exactly `remoteWatch` users of s, a user's ones on different servers where S allows), and the
 *   next user of its own server;
 * - only the watcher sends in a DM (the target never answers), so a user's messages, typing,
 *   presence changes and connection changes go to exactly two servers: its own and w(v).
 *
 * So each server watches `users` users of its own and `users` of the others, receives every
 * remote DM and typing frame meant for its users from one server per user, and sends a share
 * remoteWatch / (remoteWatch + 1) of its DMs to other servers: at S = 2 as at S = 16.
 */

/** The per-server load of the flat-cost step (JSON-safe: it is part of the suite's record). */
export interface FlatLoad {
  /** Users connected to each chat server. */
  users: number;
  /** DMs per second sent by each server's users, open loop. */
  msgPerSec: number;
  /** Typing frames per second sent by each server's users. */
  typingPerSec: number;
  /** Users per second of each server that close their connection and reconnect `offlineMs` later. */
  churnPerSec: number;
  offlineMs: number;
  /** Users on other servers each user DMs and watches (besides one user of its own server). */
  remoteWatch: number;
}

export interface FlatUser {
  user: string;
  /** Index of its chat server (0-based, cluster order). */
  server: number;
  /** DMs it sends to and types in: with its own server's partner first, then its remote ones. */
  conversations: string[];
  /** Users whose presence it watches: its DM partners. */
  watch: string[];
}

export function dmId(a: string, b: string): string {
  return `dm:${[a, b].sort().join(':')}`;
}

/**
 * The users of the workload in global order (user g on server g mod `servers`), each with its
 * conversations and watched users. Needs 2 ≤ servers, 2 ≤ users and 1 ≤ remoteWatch ≤ users.
 */
export function flatPlan(servers: number, o: Pick<FlatLoad, 'users' | 'remoteWatch'>, prefix = ''): FlatUser[] {
  const S = servers;
  const N = o.users;
  const R = o.remoteWatch;
  if (!(S >= 2 && N >= 2 && R >= 1 && R <= N)) throw new Error(`flat plan: needs at least 2 servers and 2 users per server, 1 to ${N} remote watches (got ${S}, ${N}, ${R})`);
  const id = (server: number, j: number) => `${prefix}f${j * S + server}`;
  // W(s): the users whose watcher server is s, index-major so that neighbours are on different servers.
  const watchedBy: [number, number][][] = Array.from({ length: S }, () => []);
  for (let j = 0; j < N; j++) for (let t = 0; t < S; t++) watchedBy[(t + 1 + (j % (S - 1))) % S].push([t, j]);
  const out: FlatUser[] = [];
  for (let g = 0; g < S * N; g++) {
    const s = g % S;
    const i = Math.floor(g / S);
    const me = id(s, i);
    const partners = [id(s, (i + 1) % N), ...Array.from({ length: R }, (_, k) => watchedBy[s][(i * R + k) % N]).map(([t, j]) => id(t, j))];
    out.push({ user: me, server: s, conversations: partners.map((p) => dmId(me, p)), watch: partners });
  }
  return out;
}

/** Each server's share of a per-server rate, as one worker's: `perServer` × its users / users per server. */
export function workerShare(perServer: number, workerUsers: number, usersPerServer: number): number {
  return (perServer * workerUsers) / usersPerServer;
}
