import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReceiptKind } from '../../gen/chat/v1/message';
import { WatermarkCache } from './watermark-cache';

const { RECEIPT_KIND_DELIVERED: DELIVERED, RECEIPT_KIND_READ: READ } = ReceiptKind;

describe('WatermarkCache', () => {
  it('only raises, and keeps kinds, conversations and users apart', () => {
    const cache = new WatermarkCache(10);
    cache.raise('dm:a:b', 'b', DELIVERED, 50n);
    cache.raise('dm:a:b', 'b', DELIVERED, 40n);
    cache.raise('dm:a:b', 'b', READ, 7n);
    assert.equal(cache.get('dm:a:b', 'b', DELIVERED), 50n);
    assert.equal(cache.get('dm:a:b', 'b', READ), 7n);
    assert.equal(cache.get('dm:a:b', 'a', DELIVERED), undefined);
    // Length-prefixed keys: "g:1" + "2x" is not "g:12" + "x".
    cache.raise('g:1', '2x', DELIVERED, 1n);
    assert.equal(cache.get('g:12', 'x', DELIVERED), undefined);
  });

  it('forgets the least recently raised entry past its bound, and nothing with a bound of 0', () => {
    const cache = new WatermarkCache(2);
    cache.raise('g:1', 'u', DELIVERED, 1n);
    cache.raise('g:2', 'u', DELIVERED, 1n);
    cache.raise('g:1', 'u', DELIVERED, 2n); // g:1 is now the most recent
    cache.raise('g:3', 'u', DELIVERED, 1n);
    assert.equal(cache.size, 2);
    assert.equal(cache.get('g:2', 'u', DELIVERED), undefined);
    assert.equal(cache.get('g:1', 'u', DELIVERED), 2n);
    const none = new WatermarkCache(0);
    none.raise('g:1', 'u', DELIVERED, 1n);
    assert.equal(none.size, 0);
  });
});
