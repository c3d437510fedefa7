import {
  AddMembersResponse,
  CreateGroupResponse,
  ListMembersResponse,
  ListUserGroupsResponse,
  RemoveMembersResponse,
  type Group,
  type GroupMember,
} from '../../gen/chat/v1/group';
import { ListConversationsResponse } from '../../gen/chat/v1/history';
import { UserFacingError } from './errors';

interface JsonCodec<T> {
  fromJSON(object: unknown): T;
}

/** The HTTP API of chatd (Connect-style JSON POSTs), as the signed-in user. */
export class WebApi {
  constructor(private readonly token: string) {}

  /** A dev token for `userId`; only in dev mode (a 404 says it is off). */
  static async devToken(userId: string): Promise<string> {
    const res = await post('/v1/dev/token', { user_id: userId });
    if (res.status === 404) throw new UserFacingError('dev_off', 'This server does not hand out dev tokens; paste a JWT instead');
    const body = (await readJson(res)) as { token?: string };
    if (!body.token) throw new UserFacingError('network', 'No token in the answer');
    return body.token;
  }

  async conversations(): Promise<ListConversationsResponse> {
    return this.call('chat.v1.HistoryService/ListConversations', { limit: 100 }, ListConversationsResponse);
  }

  async groups(): Promise<Group[]> {
    return (await this.call('chat.v1.GroupService/ListUserGroups', {}, ListUserGroupsResponse)).groups;
  }

  async createGroup(name: string, memberIds: string[]): Promise<Group> {
    return required((await this.call('chat.v1.GroupService/CreateGroup', { name, memberIds }, CreateGroupResponse)).group);
  }

  async members(groupId: string): Promise<GroupMember[]> {
    return (await this.call('chat.v1.GroupService/ListMembers', { groupId }, ListMembersResponse)).members;
  }

  async addMembers(groupId: string, userIds: string[]): Promise<Group> {
    return required((await this.call('chat.v1.GroupService/AddMembers', { groupId, userIds }, AddMembersResponse)).group);
  }

  async removeMembers(groupId: string, userIds: string[]): Promise<Group> {
    return required((await this.call('chat.v1.GroupService/RemoveMembers', { groupId, userIds }, RemoveMembersResponse)).group);
  }

  private async call<T>(path: string, body: object, codec: JsonCodec<T>): Promise<T> {
    return codec.fromJSON(await readJson(await post(`/${path}`, body, this.token)));
  }
}

async function post(path: string, body: object, token?: string): Promise<Response> {
  try {
    return await fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
  } catch {
    throw new UserFacingError('network', 'check your connection');
  }
}

async function readJson(res: Response): Promise<unknown> {
  const body: unknown = await res.json().catch(() => ({}));
  if (!res.ok) {
    const code = res.headers.get('chat-error-code');
    const message = (body as { message?: unknown }).message;
    throw new UserFacingError(code ? `ERROR_CODE_${code}` : 'network', typeof message === 'string' ? message : `HTTP ${res.status}`);
  }
  return body;
}

function required<T>(value: T | undefined): T {
  if (value === undefined) throw new UserFacingError('ERROR_CODE_INTERNAL', 'the answer was empty');
  return value;
}
