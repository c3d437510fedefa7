import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import pino from 'pino';
import type { ChatMessage } from '../../gen/chat/v1/message';
import { MemoryBus } from '../bus/bus-memory';
import { ConfigError, loadConfig } from '../config/config';
import { DeliveryFallback } from '../relay/delivery-fallback';
import { delivery, recordingInbox, typing } from '../relay/testing/relay-fixtures';
import { ChatMetrics } from '../telemetry/metrics';
import { waitUntil } from '../testing/wait-until';
import { dieAfterAppend, holdFallback, parseTestFault } from './test-faults';

const log = pino({ level: 'silent' });
const message = (text: string): ChatMessage => ({ messageId: '7', conversationId: 'dm:a:b', senderId: 'a', clientMsgId: 'c', text, createdAt: new Date(), seq: '3', epoch: '1' });

describe('test-only fault points (CHAT_TEST_FAULT)', () => {
  it('reads the two forms and nothing else', () => {
    assert.deepEqual(parseTestFault('die-after-append:kill me: now'), { kind: 'die-after-append', marker: 'kill me: now' });
    assert.deepEqual(parseTestFault('hold-fallback:45000'), { kind: 'hold-fallback', holdMs: 45_000 });
    for (const bad of ['', 'die-after-append:', 'hold-fallback:', 'hold-fallback:-1', 'hold-fallback:5s', 'sleep:10']) assert.throws(() => parseTestFault(bad), /CHAT_TEST_FAULT/, bad);
  });

  it('is refused at startup unless NODE_ENV=test, with an error naming both variables', () => {
    const env = { CHAT_DEV_MODE: 'true', CHAT_TEST_FAULT: 'hold-fallback:100' };
    for (const nodeEnv of [undefined, 'production', 'development']) {
      assert.throws(() => loadConfig({ ...env, NODE_ENV: nodeEnv }), (err: unknown) => err instanceof ConfigError && /CHAT_TEST_FAULT.*NODE_ENV=test/.test(err.message));
    }
    assert.equal(loadConfig({ ...env, NODE_ENV: 'test' }).testFault, 'hold-fallback:100');
    assert.equal(loadConfig({ CHAT_DEV_MODE: 'true' }).testFault, undefined, 'unset by default');
    assert.throws(() => loadConfig({ ...env, NODE_ENV: 'test', CHAT_TEST_FAULT: 'hold-fallback:soon' }), /CHAT_TEST_FAULT=.*die-after-append:<marker> or hold-fallback:<ms>/);
  });

  it('die-after-append kills the process only for a send whose text holds the marker', () => {
    const kill = mock.fn(() => undefined);
    const hook = dieAfterAppend('die-after-append:#boom', log, kill)!;
    const stderr = mock.method(process.stderr, 'write', () => true);
    try {
      hook(message('nothing to see'));
      assert.equal(kill.mock.callCount(), 0);
      hook(message('this one #boom goes'));
      assert.equal(kill.mock.callCount(), 1);
      assert.match(String(stderr.mock.calls[0].arguments[0]), /die-after-append: 7 \(seq 3\) of dm:a:b/);
    } finally {
      stderr.mock.restore();
    }
    assert.equal(dieAfterAppend(undefined, log), undefined);
    assert.equal(dieAfterAppend('hold-fallback:10', log), undefined, 'another fault: no hook');
  });

  it('hold-fallback holds the deliveries of the fallback topic, in order, and nothing else', async () => {
    assert.equal(holdFallback(undefined, log), undefined);
    assert.equal(holdFallback('die-after-append:x', log), undefined);
    const bus = new MemoryBus(log);
    const metrics = new ChatMetrics({ service: 'chat-server', instance: 'hold', processMetrics: false });
    const fallback = new DeliveryFallback({ bus, metrics, log, publishTimeoutMs: 1_000, holdDeliveries: holdFallback('hold-fallback:300', log) });
    const { inbox, got } = recordingInbox();
    const sub = fallback.consume('s', inbox);
    await sub.ready;
    const sent = [delivery('bob'), delivery('bob')];
    const t0 = Date.now();
    await fallback.send('s', [sent[0]], 'stream_down');
    await fallback.send('s', [sent[1], typing(['bob'])], 'stream_down');
    await waitUntil(() => got.typers.length === 1, 2_000, 'the typing event, not held');
    assert.deepEqual(got.arrived, [], 'no delivery before the hold is over');
    await waitUntil(() => got.arrived.length === 2, 2_000, 'the held deliveries');
    assert.ok(Date.now() - t0 >= 290, `held ${Date.now() - t0} ms`);
    assert.deepEqual(got.arrived, sent.map((d) => d.message!.messageId), 'in order');
    await sub.close();
  });
});
