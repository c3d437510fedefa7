import type { GroupRecord, GroupStore, MemberRecord } from './group-store';

/**
 * A GroupStore that keeps the member lists it read, for the one process that makes every change
 * to them (`chatd`): each group message needs its members, and reading 500 rows per message was a
 * tenth of the server's CPU in a group benchmark. A change through this store drops the group's
 * entry, and a read that overlapped a change is not kept, so a removed member never gets a later
 * message. Not for a mesh with several group-service replicas, which change groups behind each
 * other's backs. Bounded by groups, the least recently used dropped first.
 */
export class MemberListCache implements GroupStore {
  private readonly lists = new Map<string, MemberRecord[]>();
  /** Bumped per group on every change; a read started before a bump is not cached. */
  private readonly changes = new Map<string, number>();

  constructor(
    private readonly store: GroupStore,
    private readonly maxGroups: number,
  ) {}

  get(groupId: string): Promise<GroupRecord | undefined> {
    return this.store.get(groupId);
  }

  getMember(groupId: string, userId: string): Promise<MemberRecord | undefined> {
    return this.store.getMember(groupId, userId);
  }

  listUserGroups(userId: string): Promise<GroupRecord[]> {
    return this.store.listUserGroups(userId);
  }

  async create(group: Omit<GroupRecord, 'memberCount'>, members: readonly MemberRecord[]): Promise<GroupRecord> {
    this.changed(group.groupId);
    return this.store.create(group, members);
  }

  async addMembers(groupId: string, members: readonly MemberRecord[], maxMembers: number): Promise<GroupRecord> {
    this.changed(groupId);
    try {
      return await this.store.addMembers(groupId, members, maxMembers);
    } finally {
      this.changed(groupId);
    }
  }

  async removeMembers(groupId: string, userIds: readonly string[]): Promise<GroupRecord> {
    this.changed(groupId);
    try {
      return await this.store.removeMembers(groupId, userIds);
    } finally {
      this.changed(groupId);
    }
  }

  async listMembers(groupId: string): Promise<MemberRecord[]> {
    const cached = this.lists.get(groupId);
    if (cached !== undefined) {
      this.lists.delete(groupId); // re-inserted: most recently used last
      this.lists.set(groupId, cached);
      return cached;
    }
    const before = this.changes.get(groupId) ?? 0;
    const members = await this.store.listMembers(groupId);
    if ((this.changes.get(groupId) ?? 0) === before && members.length > 0) {
      if (this.lists.size >= this.maxGroups) this.lists.delete(this.lists.keys().next().value!);
      this.lists.set(groupId, members);
    }
    return members;
  }

  close(): Promise<void> {
    return this.store.close();
  }

  /** Drops the group's list, before a change (so no reader takes the old one) and after it (so a read that overlapped is not kept). */
  private changed(groupId: string): void {
    this.lists.delete(groupId);
    this.changes.set(groupId, (this.changes.get(groupId) ?? 0) + 1);
  }
}
