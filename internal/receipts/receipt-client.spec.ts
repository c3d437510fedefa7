import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ReceiptKind } from '../../gen/chat/v1/message';
import { ChatError } from '../errors/chat-error';
import { ReceiptClient } from './receipt-client';
import { receiptStoreContract } from './receipt-store.contract';
import { serveHistory, type ServedHistory } from './testing/served-history';

let served: ServedHistory;
before(async () => (served = await serveHistory()));
after(async () => served.close());

// The port through the HistoryService RPCs and back: the chat servers' adapter.
receiptStoreContract('HistoryService client over gRPC', () => Promise.resolve({ store: new ReceiptClient(served.rpc), cleanup: () => Promise.resolve() }));

describe('ReceiptClient', () => {
  it('sends a batch of watermarks in one AdvanceReceipts call', async () => {
    const client = new ReceiptClient(served.rpc);
    const count = (name: string) => served.calls.get(name) ?? 0;
    const [batches, singles] = [count('AdvanceReceipts'), count('AdvanceReceipt')];
    const DELIVERED = ReceiptKind.RECEIPT_KIND_DELIVERED;
    const moved = await client.advanceMany(['u1', 'u2', 'u3'].map((userId) => ({ conversationId: 'g:batch1', userId, kind: DELIVERED, messageId: 9n })));
    assert.deepEqual(moved, [true, true, true]);
    assert.equal(count('AdvanceReceipts'), batches + 1);
    assert.equal(count('AdvanceReceipt'), singles, 'no call per watermark');
  });

  it('gets INVALID_ARGUMENT for an entry the service refuses, and nothing of the batch moves', async () => {
    const ok = { conversationId: 'g:batch2', userId: 'u1', kind: ReceiptKind.RECEIPT_KIND_DELIVERED, messageId: '5' };
    await assert.rejects(
      served.rpc.call('advanceReceipts', { receipts: [ok, { ...ok, userId: 'u2', kind: ReceiptKind.RECEIPT_KIND_UNSPECIFIED }] }),
      (err: unknown) => err instanceof ChatError && err.codeName === 'INVALID_ARGUMENT',
    );
    await assert.rejects(
      served.rpc.call('advanceReceipts', { receipts: [ok, { ...ok, userId: 'u3', messageId: (1n << 63n).toString() }] }),
      (err: unknown) => err instanceof ChatError && err.codeName === 'INVALID_ARGUMENT',
    );
    assert.deepEqual(await served.receipts.conversation('g:batch2'), new Map());
  });
});
