import { Membership, type GroupServiceDefinition } from '../../gen/chat/v1/group';
import type { GroupDirectory } from '../chat/conversation-access';
import { ChatError } from '../errors/chat-error';
import { CallBatcher } from '../rpc/call-batcher';
import type { RpcClient } from '../rpc/grpc-client';
import { usersSharingAGroup } from './shared-groups';

/** Options of {@link GroupClient}. */
export interface GroupClientOptions {
  /** Pairs per CheckMembership call at most: CHAT_MEMBERSHIP_CHECK_MAX_BATCH (its default if unset). */
  maxChecksPerCall?: number;
}

const DEFAULT_MAX_CHECKS_PER_CALL = 500;

/**
 * The group reads of a chat server, through the GroupService (service credentials). The same
 * answers and errors as GroupService in-process: NOT_FOUND for an unknown group,
 * PERMISSION_DENIED for a sender who is not a member.
 *
 * A read access check needs no member list: the checks of one event-loop turn (the resumes of a
 * reconnect storm, each with its groups) travel in one CheckMembership call, each a single row at
 * the group service, where reading every member of a 500-member group per check would cost that
 * service, Cassandra and this server more than the replay itself.
 */
export class GroupClient implements GroupDirectory {
  private readonly checks: CallBatcher<{ groupId: string; userId: string }, Membership>;

  constructor(
    private readonly rpc: RpcClient<typeof GroupServiceDefinition>,
    opts: GroupClientOptions = {},
  ) {
    this.checks = new CallBatcher(
      async (queries) => {
        const { answers } = await rpc.call('checkMembership', { queries });
        if (answers.length !== queries.length) throw new Error(`CheckMembership answered ${answers.length} pairs for ${queries.length}`);
        return answers;
      },
      { windowMs: 0, maxBatch: opts.maxChecksPerCall ?? DEFAULT_MAX_CHECKS_PER_CALL },
    );
  }

  async membersForSend(senderId: string | undefined, groupId: string): Promise<string[]> {
    const { members } = await this.rpc.call('listMembers', { groupId });
    const ids = members.map((m) => m.userId);
    if (senderId !== undefined && !ids.includes(senderId)) throw ChatError.permissionDenied(`not a member of group ${groupId}`);
    return ids;
  }

  async checkMember(userId: string, groupId: string): Promise<void> {
    const membership = await this.checks.call({ groupId, userId });
    if (membership === Membership.MEMBERSHIP_NO_GROUP) throw ChatError.notFound(`group ${groupId} not found`);
    if (membership !== Membership.MEMBERSHIP_MEMBER) throw ChatError.permissionDenied(`not a member of group ${groupId}`);
  }

  usersSharingAGroup(viewer: string, others: readonly string[]): Promise<Set<string>> {
    return usersSharingAGroup(async (userId) => (await this.rpc.call('listUserGroups', { userId })).groups.map((g) => g.groupId), viewer, others);
  }
}
