import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GapReason } from '../../gen/chat/v1/gateway';
import type { ChatMessage } from '../../gen/chat/v1/message';
import { ResumeSession } from './resume-session';

const C = 'dm:a:b';
const D = 'dm:a:c';

/** Message `seq` of conversation `c` (epoch 1); its id is 1000 + seq, `seq` 0 for an unnumbered one. */
function msg(c: string, seq: number, id = 1000 + seq): ChatMessage {
  return { messageId: String(id), conversationId: c, senderId: 'a', clientMsgId: '', text: `m${seq}`, createdAt: new Date(), seq: String(seq), epoch: '1' };
}

describe('ResumeSession', () => {
  it('presents held positions as resume_after and the newest id as last_seen only where there is none', () => {
    const r = new ResumeSession();
    assert.deepEqual(r.hello(), { resumeAfter: {}, lastSeen: {} });
    r.complete();
    r.message(msg(C, 1));
    r.message(msg(C, 2));
    r.message(msg(C, 4)); // 3 still on its way: held stays at 2
    r.message(msg(D, 0, 5000));
    assert.deepEqual(r.takeAck(), { messageIds: ['1001', '1002', '1004', '5000'], heldThrough: { [C]: '1002' } });
    assert.deepEqual(r.hello(), { resumeAfter: { [C]: '1002' }, lastSeen: { [D]: '5000' } });
  });

  it('applies a replay at resume_complete and acknowledges nothing before it', () => {
    const r = new ResumeSession();
    r.hello();
    r.complete();
    r.message(msg(C, 1));
    r.takeAck();
    r.hello();
    r.page({ conversationId: C, messages: [msg(C, 2), msg(C, 3)], hasMore: false });
    r.message(msg(C, 4)); // live during the replay
    assert.equal(r.takeAck(), undefined);
    assert.deepEqual(r.complete(), []);
    assert.deepEqual(r.takeAck(), { messageIds: ['1002', '1003', '1004'], heldThrough: { [C]: '1004' } });
  });

  it('does not start a position past a replay still under way', () => {
    const r = new ResumeSession();
    r.hello(); // a new run: the server replays from its saved position
    r.message(msg(C, 7)); // live, before the replay's page with 5 and 6
    r.page({ conversationId: C, messages: [msg(C, 5), msg(C, 6)], hasMore: false });
    r.complete();
    assert.deepEqual(r.heldThrough(), { [C]: '1007' });
  });

  it('starts a conversation the replay could not serve at the gap, and moves it only when paged from there', () => {
    const r = new ResumeSession();
    r.hello();
    r.gap({ conversationId: C, afterId: '1004', reason: GapReason.GAP_REASON_HISTORY_UNAVAILABLE });
    r.message(msg(C, 9));
    const gaps = r.complete();
    assert.deepEqual(gaps.map((g) => g.afterId), ['1004']);
    assert.deepEqual(r.takeAck(), { messageIds: ['1009'], heldThrough: { [C]: '1004' } }, 'the live message does not jump 5..8');
    r.pagedForward(C, '1004', [msg(C, 5), msg(C, 6), msg(C, 7), msg(C, 8)]);
    assert.deepEqual(r.takeAck(), { messageIds: ['1005', '1006', '1007', '1008'], heldThrough: { [C]: '1009' } });
  });

  it('counts only contiguous numbers of a page behind a HISTORY_BEHIND gap', () => {
    const r = new ResumeSession();
    r.hello();
    r.complete();
    r.message(msg(C, 1));
    r.hello();
    r.page({ conversationId: C, messages: [msg(C, 2), msg(C, 4)], hasMore: false });
    r.gap({ conversationId: C, afterId: '1001', reason: GapReason.GAP_REASON_HISTORY_BEHIND });
    r.complete();
    assert.deepEqual(r.heldThrough(), { [C]: '1002' });
    r.pagedForward(C, '1001', [msg(C, 2), msg(C, 3), msg(C, 4)]); // read from below the held id
    assert.deepEqual(r.heldThrough(), { [C]: '1004' });
  });

  it('pages on after a REPLAY_LIMIT gap from where the replay ended', () => {
    const r = new ResumeSession();
    r.hello();
    r.page({ conversationId: C, messages: [msg(C, 1), msg(C, 2)], hasMore: true });
    r.gap({ conversationId: C, afterId: '1002', reason: GapReason.GAP_REASON_REPLAY_LIMIT });
    r.complete();
    assert.deepEqual(r.heldThrough(), { [C]: '1002' });
    r.pagedForward(C, '1002', [msg(C, 3)]);
    assert.deepEqual(r.heldThrough(), { [C]: '1003' });
  });
});
