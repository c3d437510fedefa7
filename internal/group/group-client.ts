import type { GroupServiceDefinition } from '../../gen/chat/v1/group';
import type { GroupDirectory } from '../chat/conversation-access';
import { ChatError } from '../errors/chat-error';
import type { RpcClient } from '../rpc/grpc-client';
import { usersSharingAGroup } from './shared-groups';

/**
 * The group reads of a chat server, through the GroupService (service credentials). The same
 * answers and errors as GroupService in-process: NOT_FOUND for an unknown group,
 * PERMISSION_DENIED for a sender who is not a member.
 */
export class GroupClient implements GroupDirectory {
  constructor(private readonly rpc: RpcClient<typeof GroupServiceDefinition>) {}

  async membersForSend(senderId: string | undefined, groupId: string): Promise<string[]> {
    const { members } = await this.rpc.call('listMembers', { groupId });
    const ids = members.map((m) => m.userId);
    if (senderId !== undefined && !ids.includes(senderId)) throw ChatError.permissionDenied(`not a member of group ${groupId}`);
    return ids;
  }

  usersSharingAGroup(viewer: string, others: readonly string[]): Promise<Set<string>> {
    return usersSharingAGroup(async (userId) => (await this.rpc.call('listUserGroups', { userId })).groups.map((g) => g.groupId), viewer, others);
  }
}
