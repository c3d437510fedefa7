import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { serveHistory, type ServedHistory } from '../receipts/testing/served-history';
import { HistoryClient } from './history-client';
import type { DeviceCursor } from './message-store';

const id = (n: number) => BigInt(n) << 22n;
const exact = (n: number): DeviceCursor => ({ messageId: id(n), exact: true });
const hint = (n: number): DeviceCursor => ({ messageId: id(n), exact: false });

describe('HistoryClient and the HistoryService: device cursors', () => {
  let served: ServedHistory;
  let client: HistoryClient;
  before(async () => {
    served = await serveHistory();
    client = new HistoryClient(served.rpc, { maxDevicesPerCall: 10 });
  });
  after(async () => served.close());

  it('carries exact both ways, through the single and the batch calls', async () => {
    await client.saveDeviceCursors('ann', 'phone', new Map([['g:1', exact(5)], ['g:2', hint(7)]]));
    await client.saveDeviceCursorsBatch([
      { userId: 'ann', deviceId: 'laptop', cursors: new Map([['g:1', hint(5)]]) },
      { userId: 'bob', deviceId: 'phone', cursors: new Map([['g:1', exact(9)], ['g:3', hint(2)]]) },
    ]);
    assert.deepEqual(await served.messages.loadDeviceCursors('ann', 'phone'), new Map([['g:1', exact(5)], ['g:2', hint(7)]]));
    assert.deepEqual(await served.messages.loadDeviceCursors('bob', 'phone'), new Map([['g:1', exact(9)], ['g:3', hint(2)]]));

    const count = () => served.calls.get('GetDeviceCursorsBatch') ?? 0;
    const calls = count();
    const loaded = await Promise.all([client.loadDeviceCursors('ann', 'phone'), client.loadDeviceCursors('ann', 'laptop'), client.loadDeviceCursors('bob', 'phone')]);
    assert.deepEqual(loaded, [new Map([['g:1', exact(5)], ['g:2', hint(7)]]), new Map([['g:1', hint(5)]]), new Map([['g:1', exact(9)], ['g:3', hint(2)]])]);
    assert.equal(count(), calls + 1, 'the loads of one turn share one call');
  });
});
