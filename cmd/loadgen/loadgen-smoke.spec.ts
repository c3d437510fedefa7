import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { markdownRow } from './report';
import { runScenario, type RunOptions, type RunResult } from './scenarios';
import { startTarget, type Target, type TargetKind } from './target';

/**
 * Seconds-long runs of every loadgen scenario against chatd (from source) and of dm against both
 * baselines, so the harness cannot rot. Figures are not checked, only that load flowed end to end.
 */
const ROOT = join(__dirname, '..', '..');
const secret = randomBytes(32).toString('hex');

function options(over: Partial<RunOptions>): RunOptions {
  return {
    scenario: 'dm',
    target: 'chatd',
    urls: [],
    root: ROOT,
    from: 'tsx',
    sqliteSynchronous: 'normal',
    secret,
    nodeFlags: [],
    workers: 1,
    localAddresses: ['127.0.0.2', '127.0.0.3'],
    concurrency: 50,
    users: 20,
    mode: 'open',
    rate: 200,
    window: 2,
    durationS: 0.5,
    warmupS: 0.2,
    textBytes: 64,
    groups: 1,
    groupSize: 20,
    sendersPerGroup: 2,
    conversations: 2,
    depth: 120,
    pageSize: 50,
    label: 'smoke',
    ...over,
  };
}

function assertFlowed(r: RunResult): void {
  assert.deepEqual(r.errors, {}, markdownRow(r));
  assert.equal(r.connectFailed, 0);
  assert.ok(r.delivered > 0, `nothing delivered: ${markdownRow(r)}`);
  assert.ok(r.latencyMs && r.latencyMs.count === r.delivered);
}

describe('loadgen smoke', () => {
  const targets = new Map<TargetKind, Target>();
  before(async () => {
    await Promise.all((['chatd', 'naive', 'coalesced'] as const).map(async (kind) => targets.set(kind, await startTarget({ kind, root: ROOT, secret, from: 'tsx', sqliteSynchronous: 'normal' }))));
  });
  after(async () => {
    await Promise.all([...targets.values()].map((t) => t.stop()));
  });
  const url = (kind: TargetKind) => [targets.get(kind)!.ws];

  it('connections: opens authenticated connections on a chatd it starts, and reads its memory', async () => {
    const r = await runScenario(options({ scenario: 'connections', users: 40, durationS: 0 }));
    assert.equal(r.connections, 40);
    assert.equal(r.connectFailed, 0);
    assert.ok(r.heapPerConnBytes !== undefined && r.rssPerConnBytes !== undefined && r.connectPerSec! > 0);
  });

  it('connections: with settleS, server CPU over a window after the last connect; with no users, the server at rest', async () => {
    const idle = await runScenario(options({ scenario: 'connections', urls: url('chatd'), measured: targets.get('chatd'), users: 40, settleS: 0.2, durationS: 0.5 }));
    assert.equal(idle.connections, 40);
    assert.ok(idle.serverCpuSeconds !== undefined && idle.connectPerSec! > 0);
    assert.deepEqual(idle.connectErrors, {});
    const empty = await runScenario(options({ scenario: 'connections', urls: url('chatd'), measured: targets.get('chatd'), users: 0, settleS: 0, durationS: 0.3 }));
    assert.equal(empty.connections, 0);
    assert.equal(empty.connectPerSec, undefined);
    assert.ok(empty.serverCpuSeconds !== undefined);
  });

  it('dm: open loop on chatd, with server CPU read from /proc', async () => {
    const t = targets.get('chatd')!;
    const before = t.cpuSeconds();
    assertFlowed(await runScenario(options({ urls: url('chatd') })));
    assert.ok(t.cpuSeconds() > before);
    assert.ok(t.rssBytes() > 0);
  });

  it('dm: max rate on the naive baseline', async () => {
    assertFlowed(await runScenario(options({ urls: url('naive'), mode: 'max' })));
  });

  it('group: a group created over HTTP, open loop on chatd, max rate on the coalescing baseline', async () => {
    assertFlowed(await runScenario(options({ scenario: 'group', urls: url('chatd'), rate: 20 })));
    assertFlowed(await runScenario(options({ scenario: 'group', urls: url('coalesced'), mode: 'max' })));
  });

  it('flat: the per-server workload (DMs, subscriptions, typing, churn), chatd given twice as two servers', async () => {
    const flat = { users: 20, msgPerSec: 100, typingPerSec: 10, churnPerSec: 5, offlineMs: 50, remoteWatch: 2 };
    const r = await runScenario(options({ scenario: 'flat', urls: [...url('chatd'), ...url('chatd')], measured: targets.get('chatd'), flat }));
    assertFlowed(r);
    assert.equal(r.counts?.['users subscribed'], 40, 'every user watches its users');
    assert.ok((r.counts?.typing ?? 0) > 0 && (r.counts?.churned ?? 0) > 0, JSON.stringify(r.counts));
    // Embedded chatd pushes every message itself: its inbox series exist and stay at zero.
    assert.ok(r.servers?.every((s) => Object.values(s.inbox ?? { none: -1 }).every((v) => v === 0)), JSON.stringify(r.servers));
    assert.ok(r.servers?.every((s) => s.id !== '?' && s.connections !== undefined));
  });

  it('history: seeds deep conversations and reads pages', async () => {
    const r = await runScenario(options({ scenario: 'history', urls: url('chatd') }));
    assertFlowed(r);
  });
});
