import {
  AddMembersRequest,
  AddMembersResponse,
  CreateGroupRequest,
  CreateGroupResponse,
  GetGroupRequest,
  GetGroupResponse,
  type Group,
  type GroupMember,
  ListMembersRequest,
  ListMembersResponse,
  ListUserGroupsRequest,
  ListUserGroupsResponse,
  RemoveMembersRequest,
  RemoveMembersResponse,
} from '../../gen/chat/v1/group';
import {
  ListConversationsRequest,
  ListConversationsResponse,
  ListMessagesRequest,
  ListMessagesResponse,
} from '../../gen/chat/v1/history';
import type { UserPresence } from '../../gen/chat/v1/message';
import { GetPresenceRequest, GetPresenceResponse } from '../../gen/chat/v1/session';
import { ChatClientError } from './chat-client-error';
import type { ChatHttpClient, JsonCodec } from './http-client';

const GROUP = 'chat.v1.GroupService';
const HISTORY = 'chat.v1.HistoryService';
const SESSION = 'chat.v1.SessionService';

/**
 * Typed calls of the public unary RPCs (groups, history, presence) over Connect-style JSON, as the
 * user whose token the {@link ChatHttpClient} carries. Errors are the HTTP client's
 * {@link ChatClientError}s; each method's preconditions and errors are those of its proto comment.
 */
export class ChatApi {
  constructor(readonly http: ChatHttpClient) {}

  /** Creates a group with the caller as admin; `memberIds` are the other initial members. */
  async createGroup(name: string, memberIds: string[] = []): Promise<Group> {
    const res = await this.invoke(GROUP, 'CreateGroup', { name, memberIds }, CreateGroupRequest, CreateGroupResponse);
    return required(res.group, 'CreateGroup');
  }

  /** Adds users to a group (admins only); returns the group after the change. */
  async addMembers(groupId: string, userIds: string[]): Promise<Group> {
    const res = await this.invoke(GROUP, 'AddMembers', { groupId, userIds }, AddMembersRequest, AddMembersResponse);
    return required(res.group, 'AddMembers');
  }

  /** Removes users from a group (admins; or a member removing itself); returns the group after. */
  async removeMembers(groupId: string, userIds: string[]): Promise<Group> {
    const res = await this.invoke(GROUP, 'RemoveMembers', { groupId, userIds }, RemoveMembersRequest, RemoveMembersResponse);
    return required(res.group, 'RemoveMembers');
  }

  /** Reads a group (members only). */
  async getGroup(groupId: string): Promise<Group> {
    const res = await this.invoke(GROUP, 'GetGroup', { groupId }, GetGroupRequest, GetGroupResponse);
    return required(res.group, 'GetGroup');
  }

  /** Lists a group's members, ordered by user id (members only). */
  async listMembers(groupId: string): Promise<GroupMember[]> {
    return (await this.invoke(GROUP, 'ListMembers', { groupId }, ListMembersRequest, ListMembersResponse)).members;
  }

  /** Lists the caller's groups, newest first. */
  async listUserGroups(): Promise<Group[]> {
    return (await this.invoke(GROUP, 'ListUserGroups', { userId: '' }, ListUserGroupsRequest, ListUserGroupsResponse)).groups;
  }

  /** Reads one page of a conversation (see ListMessagesRequest for the cursors). */
  listMessages(query: Partial<ListMessagesRequest> & { conversationId: string }): Promise<ListMessagesResponse> {
    const req: ListMessagesRequest = { beforeId: '0', afterId: '0', limit: 0, ...query };
    return this.invoke(HISTORY, 'ListMessages', req, ListMessagesRequest, ListMessagesResponse);
  }

  /** Reads one page of the caller's conversations, newest last message first. */
  listConversations(query: Partial<ListConversationsRequest> = {}): Promise<ListConversationsResponse> {
    const req: ListConversationsRequest = { limit: 0, beforeMessageId: '0', userId: '', ...query };
    return this.invoke(HISTORY, 'ListConversations', req, ListConversationsRequest, ListConversationsResponse);
  }

  /** The presence of the requested users who share a conversation with the caller (others are omitted). */
  async getPresence(userIds: string[]): Promise<UserPresence[]> {
    return (await this.invoke(SESSION, 'GetPresence', { userIds }, GetPresenceRequest, GetPresenceResponse)).presences;
  }

  private invoke<Req, Res>(service: string, method: string, req: Req, request: JsonCodec<Req>, response: JsonCodec<Res>): Promise<Res> {
    return this.http.call(service, method, req, { request, response });
  }
}

function required<T>(value: T | undefined, method: string): T {
  if (value === undefined) throw new ChatClientError('internal', `${method} answered without a group`);
  return value;
}
