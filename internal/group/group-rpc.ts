import { GroupServiceDefinition } from '../../gen/chat/v1/group';
import { mapConcurrent } from '../cassandra/map-concurrent';
import { ChatError } from '../errors/chat-error';
import { actingUser } from '../rpc/acting-user';
import { unaryMethods, type UnaryMethod } from '../rpc/unary-method';
import type { GroupService } from './group-service';

/** The bound of CheckMembership (CHAT_MEMBERSHIP_CHECK_MAX_BATCH). */
export interface GroupRpcLimits {
  membershipCheckMaxBatch: number;
}

/** Membership rows one CheckMembership call reads at once, at most. */
const CHECKS_IN_FLIGHT = 32;

/** GroupService RPCs (gRPC and HTTP) over the group rules. The caller is the token's subject. */
export function groupRpc(groups: GroupService, limits: GroupRpcLimits): UnaryMethod[] {
  return unaryMethods(GroupServiceDefinition, {
    createGroup: {
      access: 'public',
      handle: async (req, caller) => {
        if (caller.kind !== 'user') throw ChatError.permissionDenied('groups are created by users');
        return { group: await groups.create(caller, req.name, req.memberIds) };
      },
    },
    addMembers: { access: 'public', handle: async (req, caller) => ({ group: await groups.addMembers(caller, req.groupId, req.userIds) }) },
    removeMembers: { access: 'public', handle: async (req, caller) => ({ group: await groups.removeMembers(caller, req.groupId, req.userIds) }) },
    getGroup: { access: 'public', handle: async (req, caller) => ({ group: await groups.get(caller, req.groupId) }) },
    listMembers: { access: 'public', handle: async (req, caller) => ({ members: await groups.listMembers(caller, req.groupId) }) },
    listUserGroups: { access: 'public', handle: async (req, caller) => ({ groups: await groups.listUserGroups(actingUser(caller, req.userId).id) }) },
    checkMembership: {
      access: 'internal',
      handle: async (req) => {
        if (req.queries.length > limits.membershipCheckMaxBatch) throw ChatError.invalidArgument(`at most ${limits.membershipCheckMaxBatch} pairs per call (CHAT_MEMBERSHIP_CHECK_MAX_BATCH), got ${req.queries.length}`);
        return { answers: await mapConcurrent(req.queries, CHECKS_IN_FLIGHT, (q) => groups.membership(q.groupId, q.userId)) };
      },
    },
  });
}
