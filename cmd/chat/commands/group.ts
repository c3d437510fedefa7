import { Group, GroupMember } from '../../../gen/chat/v1/group';
import type { CliContext } from '../cli-context';
import { formatGroup, formatMember } from '../output';

/** `chat group create <name> [members...]`: creates a group with me as admin; prints it. */
export async function groupCreateCommand(ctx: CliContext, name: string, members: string[]): Promise<void> {
  const group = await (await ctx.api()).createGroup(name, members);
  ctx.out.result(formatGroup(group), Group.toJSON(group));
}

/** `chat group add <groupId> <users...>`: adds members (admins only); prints the group. */
export async function groupAddCommand(ctx: CliContext, groupId: string, users: string[]): Promise<void> {
  const group = await (await ctx.api()).addMembers(groupId, users);
  ctx.out.result(formatGroup(group), Group.toJSON(group));
}

/** `chat group remove <groupId> <users...>`: removes members (or leaves, naming myself); prints the group. */
export async function groupRemoveCommand(ctx: CliContext, groupId: string, users: string[]): Promise<void> {
  const group = await (await ctx.api()).removeMembers(groupId, users);
  ctx.out.result(formatGroup(group), Group.toJSON(group));
}

/** `chat group list`: my groups, newest first. */
export async function groupListCommand(ctx: CliContext): Promise<void> {
  const groups = await (await ctx.api()).listUserGroups();
  ctx.out.result(groups.map(formatGroup), { groups: groups.map((g) => Group.toJSON(g)) });
  if (!ctx.out.json && groups.length === 0) ctx.out.note('(no groups)');
}

/** `chat group members <groupId>`: a group's members by user id. */
export async function groupMembersCommand(ctx: CliContext, groupId: string): Promise<void> {
  const members = await (await ctx.api()).listMembers(groupId);
  ctx.out.result(members.map(formatMember), { members: members.map((m) => GroupMember.toJSON(m)) });
}
