import { ErrorCode } from '../../gen/chat/v1/errors';
import { MemberRole } from '../../gen/chat/v1/group';
import { isLwtContention } from '../cassandra/cassandra-errors';
import { parseStorableId } from '../snowflake/storable-id';
import { type CqlMigrations, migrateKeyspace, speculativeRetryMigration } from '../cassandra/cassandra-migrations';
import { bigintColumn, dateColumn, intColumn, isNullColumn, textColumn } from '../cassandra/cassandra-rows';
import type { BatchStatement, CassandraSession } from '../cassandra/cassandra-session';
import { mapConcurrent } from '../cassandra/map-concurrent';
import { ChatError } from '../errors/chat-error';
import { GroupFullError, type GroupRecord, type GroupStore, type MemberRecord } from './group-store';

/**
 * The group tables (ARCHITECTURE.md "Storage"; the SQLite adapter keeps the same logical schema).
 * Append-only: never edit a released migration.
 *
 * - groups: a group's own fields, written once, last, by `create`: a group exists once this row
 *   does, so a create that died halfway leaves nothing visible.
 * - group_members: one partition per group. `member_count` and `version` are static columns (one
 *   value per partition), so a lightweight transaction can check the version and change the count
 *   and the member rows together: Cassandra has no multi-partition transactions, but a
 *   conditional batch on one partition is atomic and isolated.
 * - user_groups: a user's groups, newest first. An index, not the truth: entries are written
 *   before a membership change commits and removed after, and every read checks membership, so a
 *   stale entry is invisible. Written `USING TIMESTAMP <group created_at µs + version>`, so the
 *   entry of the latest membership change wins whatever order the writes land in.
 */
const MIGRATIONS: CqlMigrations = [
  [
    `CREATE TABLE IF NOT EXISTS {keyspace}.groups (
       group_id bigint PRIMARY KEY, name text, created_by text, created_at timestamp)`,
    `CREATE TABLE IF NOT EXISTS {keyspace}.group_members (
       group_id bigint, user_id text, role int, joined_at timestamp,
       member_count int static, version bigint static,
       PRIMARY KEY (group_id, user_id))`,
    `CREATE TABLE IF NOT EXISTS {keyspace}.user_groups (
       user_id text, group_id bigint,
       PRIMARY KEY (user_id, group_id)
     ) WITH CLUSTERING ORDER BY (group_id DESC)`,
  ],
  speculativeRetryMigration(['groups', 'group_members', 'user_groups']),
];

/** Brings the group tables of the session's keyspace up to date (also done by `open`). */
export function migrateGroupSchema(session: CassandraSession): Promise<number> {
  return migrateKeyspace(session, 'groups', MIGRATIONS);
}

/** Users checked per `IN` read of one group's members. */
const MEMBERS_PER_READ = 100;
/** Groups of a user read in parallel by listUserGroups; index writes in parallel. */
const IN_FLIGHT = 32;

/** Options of {@link CassandraGroupStore}. */
export interface CassandraGroupStoreOptions {
  session: CassandraSession;
  /** Whether `close()` closes the session. Leave false (the default) for a shared one. */
  ownsSession?: boolean;
  /**
   * How long a membership change keeps retrying when other changes to the same group win the
   * race (each retry re-reads and re-checks the limit). Then it fails UNAVAILABLE. Default 5000.
   */
  contentionTimeoutMs?: number;
}

interface GroupMeta {
  name: string;
  createdBy: string;
  createdAt: Date;
}

/** The group_members statics; version 0n stands for "no partition yet" (bound as null). */
interface MembershipState {
  count: number;
  version: bigint;
}

/**
 * GroupStore on Cassandra, for the mesh. See MIGRATIONS for the tables.
 *
 * Membership changes are optimistic transactions on the group's `version`: read the version, then
 * which of the given users are members, then one conditional batch that sets count and version
 * and writes the member rows `IF version = <read>`. A change that lost the race re-reads and
 * re-checks, so the size limit holds exactly under concurrent adds from any number of processes,
 * and `memberCount` always equals the member rows (they change in the same atomic batch).
 *
 * Group ids are decimal Snowflakes; a malformed one is rejected with a RangeError. `addMembers`
 * and `removeMembers` on an unknown group reject with an Error. Members are ordered by user id in
 * byte order (a text clustering column).
 */
export class CassandraGroupStore implements GroupStore {
  private readonly session: CassandraSession;
  private readonly ownsSession: boolean;
  private readonly contentionTimeoutMs: number;
  private readonly q: ReturnType<typeof statements>;

  private constructor(options: CassandraGroupStoreOptions) {
    this.session = options.session;
    this.ownsSession = options.ownsSession ?? false;
    this.contentionTimeoutMs = options.contentionTimeoutMs ?? 5000;
    this.q = statements((name) => this.session.table(name));
  }

  /** Migrates the group tables, then returns the store. */
  static async open(options: CassandraGroupStoreOptions): Promise<CassandraGroupStore> {
    await migrateGroupSchema(options.session);
    return new CassandraGroupStore(options);
  }

  /**
   * Members first (a conditional batch that also detects an id already in use), then the index
   * entries, then the groups row, which makes the group visible: a create that dies halfway leaves
   * only rows no read reaches.
   */
  async create(group: Omit<GroupRecord, 'memberCount'>, members: readonly MemberRecord[]): Promise<GroupRecord> {
    const id = parseStorableId(group.groupId, 'group_id');
    const initial = uniqueMembers(members);
    const state = { count: initial.length, version: 1n };
    const rows = initial.map((m) => this.insertMember(id, m));
    const deadline = Date.now() + this.contentionTimeoutMs;
    let outcome = await this.commit('create group', id, { count: 0, version: 0n }, state, rows, false);
    let uncertain = false;
    for (let round = 0; outcome.applied === 'unknown'; round++) {
      this.assertBefore(deadline, id, 'create group');
      await backoff(round);
      uncertain = true;
      outcome = await this.commit('create group', id, { count: 0, version: 0n }, state, rows, false);
    }
    // After a round with an unknown outcome, finding version 1 means that round applied: ours.
    // Otherwise the id is taken. Group ids are fresh Snowflakes: a collision is a bug, never a
    // retry to absorb silently.
    if (outcome.applied === false && !(uncertain && outcome.version === 1n)) throw new Error(`group ${id} already exists`);
    await this.writeIndex(initial.map((m) => m.userId), id, stamp(group.createdAt, state.version), 'add');
    await this.session.execute(
      'create group',
      this.q.insertGroup,
      [id, group.name, group.createdBy, group.createdAt],
      { idempotent: true },
    );
    return { ...group, memberCount: initial.length };
  }

  async get(groupId: string): Promise<GroupRecord | undefined> {
    const id = parseStorableId(groupId, 'group_id');
    const [meta, state] = await Promise.all([this.readMeta(id), this.readState(id)]);
    return meta && toRecord(id, meta, state.count);
  }

  async addMembers(groupId: string, members: readonly MemberRecord[], maxMembers: number): Promise<GroupRecord> {
    const id = parseStorableId(groupId, 'group_id');
    const wanted = uniqueMembers(members);
    return this.change('add group members', id, async (meta, state) => {
      const present = await this.membersAmong(id, wanted.map((m) => m.userId));
      const newcomers = wanted.filter((m) => !present.has(m.userId));
      // Only newcomers count against the limit; re-adding members adds nobody, so it never fails,
      // even in a group that is over a limit lowered since it filled up.
      if (newcomers.length === 0) return { done: state.count };
      const count = state.count + newcomers.length;
      if (count > maxMembers) throw new GroupFullError(groupId, maxMembers);
      const next = { count, version: state.version + 1n };
      // Index entries go first; should this change then lose the race, membership checks on read
      // hide them, and the winner's entries carry a later timestamp.
      await this.writeIndex(newcomers.map((m) => m.userId), id, stamp(meta.createdAt, next.version), 'add');
      const outcome = await this.commit('add group members', id, state, next, newcomers.map((m) => this.insertMember(id, m)), true);
      // Lost or unknown: the next round re-reads, and finds the newcomers if this one applied after all.
      return outcome.applied === true ? { done: count } : { retry: true };
    });
  }

  async removeMembers(groupId: string, userIds: readonly string[]): Promise<GroupRecord> {
    const id = parseStorableId(groupId, 'group_id');
    const wanted = [...new Set(userIds)];
    return this.change('remove group members', id, async (meta, state) => {
      const present = [...(await this.membersAmong(id, wanted))];
      if (present.length === 0) return { done: state.count };
      const next = { count: state.count - present.length, version: state.version + 1n };
      const deletes = present.map((userId) => ({ query: this.q.deleteMember, params: [id, userId] }));
      if ((await this.commit('remove group members', id, state, next, deletes, true)).applied !== true) return { retry: true };
      // After the commit: removing entries before it could hide a member should the removal lose.
      await this.writeIndex(present, id, stamp(meta.createdAt, next.version), 'remove');
      return { done: next.count };
    });
  }

  async getMember(groupId: string, userId: string): Promise<MemberRecord | undefined> {
    const id = parseStorableId(groupId, 'group_id');
    const result = await this.session.execute('read group member', this.q.member, [id, userId], { idempotent: true });
    const row = result.first();
    return row ? { userId, role: intColumn(row, 'role'), joinedAt: dateColumn(row, 'joined_at') } : undefined;
  }

  async listMembers(groupId: string): Promise<MemberRecord[]> {
    const id = parseStorableId(groupId, 'group_id');
    const rows = await this.session.selectAll('list group members', this.q.members, [id]);
    // A partition whose members all left still has its statics: one row with a null user_id.
    return rows
      .filter((row) => !isNullColumn(row, 'user_id'))
      .map((row) => ({ userId: textColumn(row, 'user_id'), role: intColumn(row, 'role'), joinedAt: dateColumn(row, 'joined_at') }));
  }

  /** The index entries in id order, each checked against the group's member row and fields. */
  async listUserGroups(userId: string): Promise<GroupRecord[]> {
    const entries = await this.session.selectAll('list user groups', this.q.userGroups, [userId]);
    const groups = await mapConcurrent(entries, IN_FLIGHT, async (entry) => {
      const id = bigintColumn(entry, 'group_id');
      const [meta, membership] = await Promise.all([
        this.readMeta(id),
        this.session.execute('read group member', this.q.memberCount, [id, userId], { idempotent: true }),
      ]);
      const row = membership.first();
      return meta && row ? toRecord(id, meta, intColumn(row, 'member_count')) : undefined;
    });
    return groups.filter((g): g is GroupRecord => g !== undefined);
  }

  /** Closes the session only when constructed with `ownsSession: true`; otherwise a no-op. */
  async close(): Promise<void> {
    if (this.ownsSession) await this.session.close();
  }

  /**
   * The optimistic loop of a membership change: read the group's fields and membership state
   * (the version strictly before any member rows, so the rows read are at least that new), let
   * `attempt` decide and commit, and start over when its commit lost to another change.
   */
  private async change(
    what: string,
    id: bigint,
    attempt: (meta: GroupMeta, state: MembershipState) => Promise<{ done: number } | { retry: true }>,
  ): Promise<GroupRecord> {
    const deadline = Date.now() + this.contentionTimeoutMs;
    for (let round = 0; ; round++) {
      const [meta, state] = await Promise.all([this.readMeta(id), this.readState(id)]);
      if (!meta) throw new Error(`group ${id} does not exist`);
      const outcome = await attempt(meta, state);
      if ('done' in outcome) return toRecord(id, meta, outcome.done);
      this.assertBefore(deadline, id, what);
      await backoff(round);
    }
  }

  private assertBefore(deadline: number, id: bigint, what: string): void {
    if (Date.now() > deadline) {
      throw new ChatError(ErrorCode.ERROR_CODE_UNAVAILABLE, `group ${id} kept changing concurrently for ${this.contentionTimeoutMs} ms (${what}); try again`);
    }
  }

  /**
   * One conditional batch on the group's partition: set count and version `IF version = <read>`
   * (null for a partition not yet created), plus the member rows. Says whether it applied, and if
   * not, the version found instead; a Paxos round that failed mid-way has an unknown outcome.
   */
  private async commit(what: string, id: bigint, read: MembershipState, next: MembershipState, rows: BatchStatement[], idempotent: boolean): Promise<CommitOutcome> {
    const guard = { query: this.q.setState, params: [next.count, next.version, id, read.version === 0n ? null : read.version] };
    try {
      const result = await this.session.batch(what, [guard, ...rows], { logged: true, idempotent });
      if (result.wasApplied()) return { applied: true };
      const row = result.first();
      return { applied: false, version: row && !isNullColumn(row, 'version') ? bigintColumn(row, 'version') : 0n };
    } catch (err) {
      if (isLwtContention(err)) return { applied: 'unknown' };
      throw err;
    }
  }

  private insertMember(id: bigint, member: MemberRecord): BatchStatement {
    if (member.role !== MemberRole.MEMBER_ROLE_MEMBER && member.role !== MemberRole.MEMBER_ROLE_ADMIN) {
      throw new RangeError(`member ${member.userId} has role ${member.role}; only MEMBER and ADMIN are stored`);
    }
    return { query: this.q.insertMember, params: [id, member.userId, member.role, member.joinedAt] };
  }

  private async writeIndex(userIds: readonly string[], id: bigint, timestamp: bigint, op: 'add' | 'remove'): Promise<void> {
    const [query, params] =
      op === 'add'
        ? [this.q.addUserGroup, (userId: string) => [userId, id, timestamp]]
        : [this.q.removeUserGroup, (userId: string) => [timestamp, userId, id]];
    await mapConcurrent(userIds, IN_FLIGHT, (userId) => this.session.execute(`${op} user group entry`, query, params(userId), { idempotent: true }));
  }

  /** Which of `userIds` are members, read after the state so the answer is at least as new. */
  private async membersAmong(id: bigint, userIds: readonly string[]): Promise<Set<string>> {
    const chunks: string[][] = [];
    for (let i = 0; i < userIds.length; i += MEMBERS_PER_READ) chunks.push(userIds.slice(i, i + MEMBERS_PER_READ));
    const results = await mapConcurrent(chunks, 4, (chunk) =>
      this.session.execute('read group members', this.q.membersIn, [id, chunk], { idempotent: true }),
    );
    return new Set(results.flatMap((r) => r.rows.map((row) => textColumn(row, 'user_id'))));
  }

  private async readMeta(id: bigint): Promise<GroupMeta | undefined> {
    const result = await this.session.execute('read group', this.q.group, [id], { idempotent: true });
    const row = result.first();
    return row ? { name: textColumn(row, 'name'), createdBy: textColumn(row, 'created_by'), createdAt: dateColumn(row, 'created_at') } : undefined;
  }

  private async readState(id: bigint): Promise<MembershipState> {
    const result = await this.session.execute('read group membership', this.q.state, [id], { idempotent: true });
    const row = result.first();
    if (!row || isNullColumn(row, 'version')) return { count: 0, version: 0n };
    return { count: intColumn(row, 'member_count'), version: bigintColumn(row, 'version') };
  }
}

type CommitOutcome = { applied: true } | { applied: false; version: bigint } | { applied: 'unknown' };

/** Jittered exponential backoff between rounds of an optimistic change, so contenders spread out. */
function backoff(round: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(100, 5 * 2 ** round)));
}

/** The prepared statements, over fully qualified table names. */
function statements(t: (name: string) => string) {
  return {
    group: `SELECT name, created_by, created_at FROM ${t('groups')} WHERE group_id = ?`,
    insertGroup: `INSERT INTO ${t('groups')} (group_id, name, created_by, created_at) VALUES (?, ?, ?, ?)`,
    state: `SELECT member_count, version FROM ${t('group_members')} WHERE group_id = ? LIMIT 1`,
    setState: `UPDATE ${t('group_members')} SET member_count = ?, version = ? WHERE group_id = ? IF version = ?`,
    insertMember: `INSERT INTO ${t('group_members')} (group_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)`,
    deleteMember: `DELETE FROM ${t('group_members')} WHERE group_id = ? AND user_id = ?`,
    member: `SELECT role, joined_at FROM ${t('group_members')} WHERE group_id = ? AND user_id = ?`,
    memberCount: `SELECT user_id, member_count FROM ${t('group_members')} WHERE group_id = ? AND user_id = ?`,
    members: `SELECT user_id, role, joined_at FROM ${t('group_members')} WHERE group_id = ?`,
    membersIn: `SELECT user_id FROM ${t('group_members')} WHERE group_id = ? AND user_id IN ?`,
    addUserGroup: `INSERT INTO ${t('user_groups')} (user_id, group_id) VALUES (?, ?) USING TIMESTAMP ?`,
    removeUserGroup: `DELETE FROM ${t('user_groups')} USING TIMESTAMP ? WHERE user_id = ? AND group_id = ?`,
    userGroups: `SELECT group_id FROM ${t('user_groups')} WHERE user_id = ?`,
  };
}

/**
 * The write timestamp of index entries for membership version `version`: the group's creation in
 * microseconds plus the version, so it grows with every change and stays a plausible time.
 */
function stamp(createdAt: Date, version: bigint): bigint {
  return BigInt(createdAt.getTime()) * 1000n + version;
}

/** The first record per user id: a user listed twice in one call is one member. */
function uniqueMembers(members: readonly MemberRecord[]): MemberRecord[] {
  const byId = new Map<string, MemberRecord>();
  for (const member of members) if (!byId.has(member.userId)) byId.set(member.userId, member);
  return [...byId.values()];
}

function toRecord(id: bigint, meta: GroupMeta, memberCount: number): GroupRecord {
  return { groupId: id.toString(), name: meta.name, createdBy: meta.createdBy, createdAt: meta.createdAt, memberCount };
}
