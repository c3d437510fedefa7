import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PresenceStatus } from '../../gen/chat/v1/message';
import { ChatClientError } from '../../internal/client/chat-client-error';
import { describeError, formatMessage, formatPresence, safe } from './output';

describe('output', () => {
  it('keeps a message on one line and escapes terminal control characters', () => {
    assert.equal(safe('a\nb\tc\u001b[2Jd\u009b'), 'a\\nb\\tc\\u001b[2Jd\\u009b');
    const line = formatMessage({
      messageId: '1',
      conversationId: 'dm:a:b',
      senderId: 'a',
      clientMsgId: 'c',
      text: 'hi\nthere',
      createdAt: new Date(2026, 0, 2, 3, 4, 5),
      seq: '1',
      epoch: '1',
    });
    assert.equal(line, '2026-01-02 03:04:05  dm:a:b  a: hi\\nthere');
  });

  it('says when an offline user was last seen', () => {
    const now = new Date(2026, 0, 2, 3, 4, 5);
    const lastSeen = new Date(2026, 0, 1, 0, 0, 0);
    assert.equal(
      formatPresence({ userId: 'bob', status: PresenceStatus.PRESENCE_STATUS_OFFLINE, lastSeen }, now),
      '2026-01-02 03:04:05  presence  bob offline (last seen 2026-01-01 00:00:00)',
    );
    assert.equal(formatPresence({ userId: 'bob', status: PresenceStatus.PRESENCE_STATUS_ONLINE, lastSeen }, now), '2026-01-02 03:04:05  presence  bob online');
  });

  it('describes errors by code and message', () => {
    assert.deepEqual(describeError(new ChatClientError('permission_denied', 'admins only')), { code: 'permission_denied', message: 'admins only' });
    assert.deepEqual(describeError(new Error('boom')), { code: 'internal', message: 'boom' });
  });
});
