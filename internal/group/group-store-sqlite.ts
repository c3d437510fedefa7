import { MemberRole } from '../../gen/chat/v1/group';
import type { SqliteDatabase, SqliteStatement as Stmt } from '../sqlite/sqlite-database';
import { parseStorableId } from '../snowflake/storable-id';
import { settle } from '../sqlite/settle';
import { migrateSchema } from '../sqlite/sqlite-migrations';
import { GroupFullError, type GroupRecord, type GroupStore, type MemberRecord } from './group-store';

/**
 * The group tables, in the shape of the Cassandra ones: groups and group_members keyed by group
 * id, user_groups keyed by user id. Append-only: never edit a released script.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE groups (
     group_id     INTEGER NOT NULL PRIMARY KEY,  -- the Snowflake itself (fits a signed INTEGER)
     name         TEXT    NOT NULL,
     created_by   TEXT    NOT NULL,
     created_at   INTEGER NOT NULL,              -- Unix ms
     member_count INTEGER NOT NULL              -- kept equal to the group's group_members rows
   );
   CREATE TABLE group_members (
     group_id  INTEGER NOT NULL REFERENCES groups (group_id),
     user_id   TEXT    NOT NULL,
     role      INTEGER NOT NULL,                 -- MemberRole
     joined_at INTEGER NOT NULL,                 -- Unix ms
     PRIMARY KEY (group_id, user_id)
   ) WITHOUT ROWID;
   CREATE TABLE user_groups (
     user_id  TEXT    NOT NULL,
     group_id INTEGER NOT NULL REFERENCES groups (group_id),
     PRIMARY KEY (user_id, group_id)
   ) WITHOUT ROWID;`,
];

interface GroupRow {
  group_id: bigint;
  name: string;
  created_by: string;
  created_at: bigint;
  member_count: bigint;
}

interface MemberRow {
  user_id: string;
  role: bigint;
  joined_at: bigint;
}

/** Options of {@link SqliteGroupStore}. */
export interface SqliteGroupStoreOptions {
  /** The connection, usually from `openSqliteDatabase`, possibly shared with other stores. */
  db: SqliteDatabase;
  /** Whether `close()` closes `db`. Leave false (the default) for a connection shared with other stores. */
  ownsDb?: boolean;
}

/**
 * GroupStore on SQLite, for `chatd`. Creates its tables (schema owner "groups") on construction.
 * Every write is one IMMEDIATE transaction: the membership check, the size check and the writes
 * see one state even with another process on the file, and `member_count` moves with the rows.
 *
 * Group ids are decimal Snowflakes; a malformed one is rejected with a RangeError rather than
 * treated as unknown. `addMembers` and `removeMembers` on an unknown group reject with an Error
 * (callers check existence first, so this is a bug or a race with nothing to write to).
 * Members are ordered by user id in byte order, as Cassandra orders a text clustering column.
 */
export class SqliteGroupStore implements GroupStore {
  private readonly db: SqliteDatabase;
  private readonly ownsDb: boolean;
  private readonly selectGroup: Stmt<[bigint], GroupRow>;
  private readonly insertGroup: Stmt<[bigint, string, string, number, number]>;
  private readonly addToCount: Stmt<[number, bigint]>;
  private readonly selectMember: Stmt<[bigint, string], MemberRow>;
  private readonly selectMembers: Stmt<[bigint], MemberRow>;
  private readonly insertMember: Stmt<[bigint, string, number, number]>;
  private readonly deleteMember: Stmt<[bigint, string]>;
  private readonly insertUserGroup: Stmt<[string, bigint]>;
  private readonly deleteUserGroup: Stmt<[string, bigint]>;
  private readonly selectUserGroups: Stmt<[string], GroupRow>;
  private readonly createTx: (id: bigint, group: Omit<GroupRecord, 'memberCount'>, members: MemberRecord[]) => GroupRecord;
  private readonly addTx: (id: bigint, members: MemberRecord[], maxMembers: number) => GroupRecord;
  private readonly removeTx: (id: bigint, userIds: string[]) => GroupRecord;

  constructor(options: SqliteGroupStoreOptions) {
    this.db = options.db;
    this.ownsDb = options.ownsDb ?? false;
    migrateSchema(this.db, 'groups', MIGRATIONS);

    const reader = <P extends unknown[], R>(sql: string): Stmt<P, R> => this.db.prepare<P, R>(sql).safeIntegers(true);
    const writer = <P extends unknown[]>(sql: string): Stmt<P> => this.db.prepare<P>(sql);
    const GROUP = 'g.group_id, g.name, g.created_by, g.created_at, g.member_count';
    this.selectGroup = reader(`SELECT ${GROUP} FROM groups g WHERE g.group_id = ?`);
    this.insertGroup = writer(
      'INSERT INTO groups (group_id, name, created_by, created_at, member_count) VALUES (?, ?, ?, ?, ?)',
    );
    this.addToCount = writer('UPDATE groups SET member_count = member_count + ? WHERE group_id = ?');
    this.selectMember = reader('SELECT user_id, role, joined_at FROM group_members WHERE group_id = ? AND user_id = ?');
    this.selectMembers = reader('SELECT user_id, role, joined_at FROM group_members WHERE group_id = ? ORDER BY user_id');
    // DO NOTHING: a member already present keeps the role and join time it has.
    this.insertMember = writer(
      'INSERT INTO group_members (group_id, user_id, role, joined_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
    );
    this.deleteMember = writer('DELETE FROM group_members WHERE group_id = ? AND user_id = ?');
    this.insertUserGroup = writer('INSERT INTO user_groups (user_id, group_id) VALUES (?, ?) ON CONFLICT DO NOTHING');
    this.deleteUserGroup = writer('DELETE FROM user_groups WHERE user_id = ? AND group_id = ?');
    this.selectUserGroups = reader(`SELECT ${GROUP} FROM user_groups ug CROSS JOIN groups g ON g.group_id = ug.group_id
      WHERE ug.user_id = ? ORDER BY ug.group_id DESC`);

    const createTx = this.db.transaction(this.createInTransaction.bind(this));
    const addTx = this.db.transaction(this.addInTransaction.bind(this));
    const removeTx = this.db.transaction(this.removeInTransaction.bind(this));
    this.createTx = (...args) => createTx.immediate(...args);
    this.addTx = (...args) => addTx.immediate(...args);
    this.removeTx = (...args) => removeTx.immediate(...args);
  }

  create(group: Omit<GroupRecord, 'memberCount'>, members: readonly MemberRecord[]): Promise<GroupRecord> {
    return settle(() => this.createTx(parseStorableId(group.groupId, 'group_id'), group, uniqueMembers(members)));
  }

  get(groupId: string): Promise<GroupRecord | undefined> {
    return settle(() => {
      const row = this.selectGroup.get(parseStorableId(groupId, 'group_id'));
      return row && toGroup(row);
    });
  }

  addMembers(groupId: string, members: readonly MemberRecord[], maxMembers: number): Promise<GroupRecord> {
    return settle(() => this.addTx(parseStorableId(groupId, 'group_id'), uniqueMembers(members), maxMembers));
  }

  removeMembers(groupId: string, userIds: readonly string[]): Promise<GroupRecord> {
    return settle(() => this.removeTx(parseStorableId(groupId, 'group_id'), [...new Set(userIds)]));
  }

  getMember(groupId: string, userId: string): Promise<MemberRecord | undefined> {
    return settle(() => {
      const row = this.selectMember.get(parseStorableId(groupId, 'group_id'), userId);
      return row && toMember(row);
    });
  }

  listMembers(groupId: string): Promise<MemberRecord[]> {
    return settle(() => this.selectMembers.all(parseStorableId(groupId, 'group_id')).map(toMember));
  }

  listUserGroups(userId: string): Promise<GroupRecord[]> {
    return settle(() => this.selectUserGroups.all(userId).map(toGroup));
  }

  /** Closes the connection only when constructed with `ownsDb: true`; otherwise a no-op. */
  close(): Promise<void> {
    return settle(() => {
      if (this.ownsDb && this.db.open) this.db.close();
    });
  }

  private createInTransaction(id: bigint, group: Omit<GroupRecord, 'memberCount'>, members: MemberRecord[]): GroupRecord {
    // Group ids are fresh Snowflakes: a collision is a bug, never a retry to absorb silently.
    if (this.selectGroup.get(id)) throw new Error(`group ${id} already exists`);
    this.insertGroup.run(id, group.name, group.createdBy, group.createdAt.getTime(), members.length);
    for (const member of members) this.insertMembership(id, member);
    return this.mustGet(id);
  }

  private addInTransaction(id: bigint, members: MemberRecord[], maxMembers: number): GroupRecord {
    const group = this.mustGet(id);
    const newcomers = members.filter((m) => this.selectMember.get(id, m.userId) === undefined);
    // Only newcomers count against the limit; re-adding members adds nobody, so it never fails,
    // even in a group that is over a limit lowered since it filled up.
    if (newcomers.length === 0) return group;
    if (group.memberCount + newcomers.length > maxMembers) throw new GroupFullError(group.groupId, maxMembers);
    for (const member of newcomers) this.insertMembership(id, member);
    this.addToCount.run(newcomers.length, id);
    return { ...group, memberCount: group.memberCount + newcomers.length };
  }

  private removeInTransaction(id: bigint, userIds: string[]): GroupRecord {
    const group = this.mustGet(id);
    let removed = 0;
    for (const userId of userIds) {
      removed += this.deleteMember.run(id, userId).changes;
      this.deleteUserGroup.run(userId, id);
    }
    if (removed > 0) this.addToCount.run(-removed, id);
    return { ...group, memberCount: group.memberCount - removed };
  }

  private insertMembership(id: bigint, member: MemberRecord): void {
    if (member.role !== MemberRole.MEMBER_ROLE_MEMBER && member.role !== MemberRole.MEMBER_ROLE_ADMIN) {
      throw new RangeError(`member ${member.userId} has role ${member.role}; only MEMBER and ADMIN are stored`);
    }
    this.insertMember.run(id, member.userId, member.role, member.joinedAt.getTime());
    this.insertUserGroup.run(member.userId, id);
  }

  private mustGet(id: bigint): GroupRecord {
    const row = this.selectGroup.get(id);
    if (!row) throw new Error(`group ${id} does not exist`);
    return toGroup(row);
  }
}

/** The first record per user id: a user listed twice in one call is one member. */
function uniqueMembers(members: readonly MemberRecord[]): MemberRecord[] {
  const byId = new Map<string, MemberRecord>();
  for (const member of members) if (!byId.has(member.userId)) byId.set(member.userId, member);
  return [...byId.values()];
}

function toGroup(row: GroupRow): GroupRecord {
  return {
    groupId: row.group_id.toString(),
    name: row.name,
    createdBy: row.created_by,
    createdAt: new Date(Number(row.created_at)),
    memberCount: Number(row.member_count),
  };
}

function toMember(row: MemberRow): MemberRecord {
  return { userId: row.user_id, role: Number(row.role), joinedAt: new Date(Number(row.joined_at)) };
}
