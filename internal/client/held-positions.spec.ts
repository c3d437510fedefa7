import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HeldPositions, type Numbered } from './held-positions';

const C = 'dm:a:b';
const NOW = 1_800_000_000_000;
const m = (seq: number, epoch = 100, ageMs = 0, conversationId = C): Numbered => ({
  conversationId,
  messageId: String(epoch * 1000 + seq),
  seq: String(seq),
  epoch: String(epoch),
  createdAt: new Date(NOW - ageMs),
});
const positions = (initial = {}) => new HeldPositions(initial, { holeTimeoutMs: 60_000, now: () => NOW });

describe('HeldPositions', () => {
  it('starts a conversation at its first numbered message and moves through consecutive numbers', () => {
    const p = positions();
    assert.equal(p.receive(m(5)), true);
    assert.equal(p.receive(m(6)), true);
    assert.deepEqual(p.heldThrough(), { [C]: '100006' });
  });

  it('holds its position before a missing number and catches up when it arrives', () => {
    const p = positions();
    p.receive(m(1));
    assert.equal(p.receive(m(3)), false);
    assert.equal(p.receive(m(4)), false);
    assert.deepEqual(p.withGaps(), [C]);
    assert.equal(p.get(C)?.seq, '1', 'the resume would start right after 1');
    assert.equal(p.receive(m(2)), true);
    assert.equal(p.get(C)?.seq, '4');
    assert.deepEqual(p.withGaps(), []);
  });

  it('names the first run of missing numbers, so a client can fill exactly it from history', () => {
    const p = positions();
    p.receive(m(1));
    assert.equal(p.firstHole(C), undefined);
    p.receive(m(4));
    p.receive(m(7));
    assert.deepEqual(p.firstHole(C), { afterId: '100001', count: 2 }, 'seqs 2 and 3');
    p.receive(m(1, 200));
    p.receive(m(2));
    p.receive(m(3));
    p.receive(m(5));
    p.receive(m(6));
    p.receive(m(7));
    assert.deepEqual(p.firstHole(C), { afterId: '100007', count: 0 }, 'only a later epoch is held: page to the end');
    const q = positions();
    q.startAt(C, '5');
    q.receive(m(3));
    assert.deepEqual(q.firstHole(C), { afterId: '5', count: 2 }, 'from a start: seqs 1 and 2');
  });

  it('ignores repeats, older numbers, older epochs and unnumbered messages', () => {
    const p = positions();
    p.receive(m(3));
    for (const old of [m(3), m(2), m(9, 50), { ...m(0), seq: '0' }]) assert.equal(p.receive(old), false);
    assert.equal(p.get(C)?.seq, '3');
  });

  it('does not cross into a new epoch live, but a replayed page starting it at seq 1 does', () => {
    const p = positions();
    p.receive(m(7));
    assert.equal(p.receive(m(1, 200)), false, 'live: the old epoch may still have messages on their way');
    assert.equal(p.replayed(C, [m(8), m(1, 200), m(2, 200)]), true);
    assert.deepEqual(p.get(C), { messageId: '200002', seq: '2', epoch: '200' });
  });

  it('moves through a replayed page only as far as its numbers are consecutive, unless the hole is old', () => {
    const p = positions({ [C]: { messageId: '100001', seq: '1', epoch: '100' } });
    assert.equal(p.replayed(C, [m(2), m(4, 100, 1_000), m(5, 100, 1_000)]), true);
    assert.equal(p.get(C)?.seq, '2', 'a young hole (a send in flight) stops it');
    assert.equal(p.replayed(C, [m(4, 100, 61_000), m(5, 100, 61_000)]), true);
    assert.equal(p.get(C)?.seq, '5', 'a hole older than the timeout never fills: the page jumps it');
  });

  it('from a start, takes seq 1 live and whatever a replay after the start begins with', () => {
    const p = positions();
    p.startAt(C, '5');
    assert.equal(p.receive(m(2)), false, 'not the first message: 1 may be on its way');
    assert.equal(p.receive(m(1)), true);
    assert.equal(p.get(C)?.seq, '2');
    const q = positions();
    q.startAt(C, '5');
    assert.equal(q.replayed(C, [m(40), m(41)]), true, 'a replay from the start is the conversation from there');
    assert.equal(q.get(C)?.seq, '41');
  });

  it('round-trips a snapshot and names only the conversations asked for', () => {
    const p = positions();
    p.receive(m(2));
    p.receive(m(9, 100, 0, 'g:1'));
    const q = positions(p.snapshot());
    assert.deepEqual(q.heldThrough([C]), { [C]: '100002' });
    assert.equal(q.receive(m(3)), true);
  });
});
