import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TypedEmitter } from './typed-emitter';

interface Events {
  tick: [n: number];
  done: [];
}

describe('TypedEmitter', () => {
  it('calls listeners in order, once-listeners once, and stops calling removed ones', () => {
    const e = new TypedEmitter<Events>();
    const seen: string[] = [];
    const a = (n: number): void => void seen.push(`a${n}`);
    e.on('tick', a).once('tick', (n) => seen.push(`once${n}`)).on('tick', (n) => seen.push(`b${n}`));
    assert.equal(e.listenerCount('tick'), 3);
    assert.equal(e.emit('tick', 1), true);
    e.off('tick', a);
    e.emit('tick', 2);
    assert.deepEqual(seen, ['a1', 'once1', 'b1', 'b2']);
    assert.equal(e.emit('done'), false, 'no listener');
    e.removeAllListeners();
    assert.equal(e.listenerCount('tick'), 0);
  });

  it('removes a once-listener by the function given, before it fired', () => {
    const e = new TypedEmitter<Events>();
    const f = (): void => assert.fail('removed');
    e.once('done', f);
    e.removeListener('done', f);
    assert.equal(e.emit('done'), false);
  });
});
