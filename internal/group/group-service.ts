import { MemberRole, Membership, type Group, type GroupMember } from '../../gen/chat/v1/group';
import type { Principal } from '../auth/principal';
import { assertUserId, groupConversationId } from '../conversation/conversation-id';
import { ChatError } from '../errors/chat-error';
import { GroupFullError, type GroupRecord, type GroupStore } from './group-store';
import { usersSharingAGroup } from './shared-groups';

export interface GroupLimits {
  maxGroupSize: number;
  maxGroupNameBytes: number;
}

export interface GroupServiceOptions {
  store: GroupStore;
  limits: GroupLimits;
  /** Issues group ids (Snowflakes as decimal strings). */
  nextId: () => string;
  now?: () => number;
}

/**
 * Group rules: the creator is admin; admins add and remove; any member may leave; at most
 * `maxGroupSize` members; only members (and services) read a group. Transport-free: the gRPC and
 * HTTP adapters call it with the authenticated principal.
 */
export class GroupService {
  private readonly now: () => number;

  constructor(private readonly opts: GroupServiceOptions) {
    this.now = opts.now ?? Date.now;
  }

  async create(caller: Principal, name: string, memberIds: readonly string[]): Promise<Group> {
    this.assertName(name);
    const others = uniqueUsers(memberIds).filter((u) => u !== caller.id);
    if (others.length + 1 > this.opts.limits.maxGroupSize) {
      throw ChatError.limitExceeded(`a group has at most ${this.opts.limits.maxGroupSize} members, asked for ${others.length + 1}`);
    }
    const at = new Date(this.now());
    const record = await this.opts.store.create({ groupId: this.opts.nextId(), name, createdBy: caller.id, createdAt: at }, [
      { userId: caller.id, role: MemberRole.MEMBER_ROLE_ADMIN, joinedAt: at },
      ...others.map((userId) => ({ userId, role: MemberRole.MEMBER_ROLE_MEMBER, joinedAt: at })),
    ]);
    return toGroup(record);
  }

  async addMembers(caller: Principal, groupId: string, userIds: readonly string[]): Promise<Group> {
    await this.requireAdmin(caller, groupId);
    const at = new Date(this.now());
    const members = uniqueUsers(userIds).map((userId) => ({ userId, role: MemberRole.MEMBER_ROLE_MEMBER, joinedAt: at }));
    try {
      return toGroup(await this.opts.store.addMembers(groupId, members, this.opts.limits.maxGroupSize));
    } catch (err) {
      if (err instanceof GroupFullError) throw ChatError.limitExceeded(`group ${groupId} would exceed ${err.maxMembers} members; nobody was added`);
      throw err;
    }
  }

  async removeMembers(caller: Principal, groupId: string, userIds: readonly string[]): Promise<Group> {
    const users = uniqueUsers(userIds);
    const leavingOnly = caller.kind === 'user' && users.length === 1 && users[0] === caller.id;
    if (leavingOnly) await this.requireMember(caller, groupId);
    else await this.requireAdmin(caller, groupId);
    return toGroup(await this.opts.store.removeMembers(groupId, users));
  }

  async get(caller: Principal, groupId: string): Promise<Group> {
    return toGroup(await this.requireMember(caller, groupId));
  }

  async listMembers(caller: Principal, groupId: string): Promise<GroupMember[]> {
    await this.requireMember(caller, groupId);
    return (await this.opts.store.listMembers(groupId)).map((m) => ({ userId: m.userId, role: m.role, joinedAt: m.joinedAt }));
  }

  async listUserGroups(userId: string): Promise<Group[]> {
    return (await this.opts.store.listUserGroups(userId)).map(toGroup);
  }

  /**
   * Member user ids of a group, the recipients of a group message. With a sender, it must be a
   * member (PERMISSION_DENIED otherwise); without one (a service reading) any group is open.
   */
  async membersForSend(senderId: string | undefined, groupId: string): Promise<string[]> {
    const members = await this.opts.store.listMembers(this.assertGroupId(groupId));
    if (members.length === 0) await this.getOrThrow(groupId); // NOT_FOUND rather than a bare denial
    if (senderId !== undefined && !members.some((m) => m.userId === senderId)) {
      throw ChatError.permissionDenied(`not a member of group ${groupId}`);
    }
    return members.map((m) => m.userId);
  }

  /**
   * Whether `userId` is a member of the group, from its one membership row (no member list): the
   * read access rule. NOT_FOUND for an unknown group, PERMISSION_DENIED for a non-member.
   */
  async checkMember(userId: string, groupId: string): Promise<void> {
    const membership = await this.membership(groupId, userId);
    if (membership === Membership.MEMBERSHIP_NO_GROUP) throw ChatError.notFound(`group ${groupId} not found`);
    if (membership !== Membership.MEMBERSHIP_MEMBER) throw ChatError.permissionDenied(`not a member of group ${groupId}`);
  }

  /** What CheckMembership answers for one pair; INVALID_ARGUMENT for a bad group or user id. */
  async membership(groupId: string, userId: string): Promise<Membership> {
    if (await this.opts.store.getMember(this.assertGroupId(groupId), assertUserId(userId))) return Membership.MEMBERSHIP_MEMBER;
    return (await this.opts.store.get(groupId)) ? Membership.MEMBERSHIP_NOT_MEMBER : Membership.MEMBERSHIP_NO_GROUP;
  }

  /** Which of `others` have a group in common with `viewer` (one of the presence visibility rules). */
  usersSharingAGroup(viewer: string, others: readonly string[]): Promise<Set<string>> {
    return usersSharingAGroup(async (u) => (await this.opts.store.listUserGroups(u)).map((g) => g.groupId), viewer, others);
  }

  private async requireMember(caller: Principal, groupId: string): Promise<GroupRecord> {
    const group = await this.getOrThrow(groupId);
    if (caller.kind === 'service') return group;
    if (!(await this.opts.store.getMember(groupId, caller.id))) throw ChatError.permissionDenied(`not a member of group ${groupId}`);
    return group;
  }

  private async requireAdmin(caller: Principal, groupId: string): Promise<GroupRecord> {
    const group = await this.getOrThrow(groupId);
    if (caller.kind === 'service') return group;
    const member = await this.opts.store.getMember(groupId, caller.id);
    if (member?.role !== MemberRole.MEMBER_ROLE_ADMIN) throw ChatError.permissionDenied(`only admins of group ${groupId} may change its members`);
    return group;
  }

  private assertGroupId(groupId: string): string {
    if (!/^[1-9][0-9]{0,19}$/.test(groupId)) throw ChatError.invalidArgument(`bad group id ${JSON.stringify(groupId.slice(0, 40))}`);
    return groupId;
  }

  private async getOrThrow(groupId: string): Promise<GroupRecord> {
    const group = await this.opts.store.get(this.assertGroupId(groupId));
    if (!group) throw ChatError.notFound(`group ${groupId} not found`);
    return group;
  }

  private assertName(name: string): void {
    const bytes = Buffer.byteLength(name, 'utf8');
    if (name.trim() === '' || bytes > this.opts.limits.maxGroupNameBytes) {
      throw ChatError.invalidArgument(`group name must be 1-${this.opts.limits.maxGroupNameBytes} bytes and not blank`);
    }
  }
}

function uniqueUsers(userIds: readonly string[]): string[] {
  return [...new Set(userIds.map((u) => assertUserId(u)))];
}

function toGroup(g: GroupRecord): Group {
  return { ...g, conversationId: groupConversationId(g.groupId) };
}
