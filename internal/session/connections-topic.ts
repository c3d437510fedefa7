import { ConnectionsChanged } from '../../gen/chat/v1/message_log';

/** The bus topic on which the session service says a user's connections changed (message_log.proto). */
export const CONNECTIONS_TOPIC = 'chat.sessions.v1';

export function encodeConnectionsChanged(userId: string): Uint8Array {
  return ConnectionsChanged.encode({ userId }).finish();
}

export function decodeConnectionsChanged(payload: Uint8Array): ConnectionsChanged {
  return ConnectionsChanged.decode(payload);
}
