/**
 * Who is calling. Users are the `sub` of their token. Services (chat servers, the sync worker)
 * carry a token with the claim `chat_role: "service"`; they may call the internal RPCs and act on
 * any user's behalf where an RPC allows it.
 */
export interface Principal {
  kind: 'user' | 'service';
  /** The token's `sub`. */
  id: string;
  /** When the token expires (ms since epoch), if it has `exp`. */
  expiresAtMs?: number;
  /** The verified bearer token itself, which the API server forwards to the services it fronts. */
  token?: string;
}

export const SERVICE_ROLE_CLAIM = 'chat_role';
