import { MemberRole } from '../../gen/chat/v1/group';

export interface GroupRecord {
  /** Decimal Snowflake. */
  groupId: string;
  name: string;
  createdBy: string;
  createdAt: Date;
  memberCount: number;
}

export interface MemberRecord {
  userId: string;
  role: MemberRole;
  joinedAt: Date;
}

/** Thrown by `addMembers` when the group would exceed `maxMembers`; nothing was added. */
export class GroupFullError extends Error {
  constructor(
    readonly groupId: string,
    readonly maxMembers: number,
  ) {
    super(`group ${groupId} would exceed ${maxMembers} members`);
    this.name = 'GroupFullError';
  }
}

/**
 * GroupStore keeps groups and memberships (SQLite in `chatd`, Cassandra in the mesh), in the
 * shape of the Cassandra tables: groups and group_members by group id, user_groups by user id.
 *
 * Guarantees implementers keep:
 * - Writes resolve once durable. `create` stores the group and its initial members together.
 * - `addMembers` is idempotent (existing members keep their role and join time) and all-or-nothing
 *   with respect to the size limit: it throws GroupFullError and adds nobody when the resulting
 *   member count would exceed `maxMembers`. `removeMembers` is idempotent.
 * - `memberCount` always equals the number of members.
 * - Reads of one group or one user touch only that group's or that user's rows.
 */
export interface GroupStore {
  create(group: Omit<GroupRecord, 'memberCount'>, members: readonly MemberRecord[]): Promise<GroupRecord>;
  get(groupId: string): Promise<GroupRecord | undefined>;
  addMembers(groupId: string, members: readonly MemberRecord[], maxMembers: number): Promise<GroupRecord>;
  removeMembers(groupId: string, userIds: readonly string[]): Promise<GroupRecord>;
  getMember(groupId: string, userId: string): Promise<MemberRecord | undefined>;
  /** Members ordered by user id. */
  listMembers(groupId: string): Promise<MemberRecord[]>;
  /** The user's groups, newest (largest group id) first. */
  listUserGroups(userId: string): Promise<GroupRecord[]>;
  close(): Promise<void>;
}
