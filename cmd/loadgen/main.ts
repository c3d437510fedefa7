#!/usr/bin/env node
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { writeCapacityDoc } from './capacity-doc';
import { ClusterProbe } from './cluster-probe';
import { MARKDOWN_HEADER, markdownRow } from './report';
import { runScenario, type RunOptions, type ScenarioName } from './scenarios';
import { PARTS, renderSuite, runSuite } from './suite';
import { SUITE, type SuiteRecord } from './suite-plan';
import type { TargetKind } from './target';

/** Repository root, from dist/cmd/loadgen or cmd/loadgen. */
const ROOT = __filename.includes(`${join('dist', 'cmd')}`) ? join(__dirname, '..', '..', '..') : join(__dirname, '..', '..');

const collect = (v: string, prev: string[]) => [...prev, v];

function runOptions(scenario: ScenarioName, o: Record<string, unknown>): RunOptions {
  const n = (k: string) => Number(o[k]);
  return {
    scenario,
    target: o.server as TargetKind,
    urls: o.target as string[],
    root: ROOT,
    from: o.from as 'dist' | 'tsx',
    sqliteSynchronous: o.sqlite as 'full' | 'normal',
    secret: (o.secret as string | undefined) ?? randomBytes(32).toString('hex'),
    nodeFlags: o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProf as string}`] : [],
    workers: n('workers'),
    localAddresses: Array.from({ length: n('sourceAddresses') }, (_, i) => `127.0.0.${i + 2}`),
    concurrency: n('concurrency'),
    users: n('users'),
    mode: o.mode as 'open' | 'max',
    rate: n('rate'),
    window: n('window'),
    durationS: n('duration'),
    warmupS: n('warmup'),
    drainS: n('drain'),
    settleS: o.settle === undefined ? undefined : n('settle'),
    textBytes: n('textBytes'),
    groups: n('groups'),
    groupSize: n('groupSize'),
    sendersPerGroup: n('sendersPerGroup'),
    conversations: n('conversations'),
    depth: n('depth'),
    pageSize: n('pageSize'),
    flat: scenario === 'flat' ? { users: n('serverUsers'), msgPerSec: n('serverRate'), typingPerSec: n('serverTyping'), churnPerSec: n('serverChurn'), offlineMs: n('offline'), remoteWatch: n('remoteWatch') } : undefined,
    label: `${scenario} ${o.target && (o.target as string[]).length ? 'external' : (o.server as string)}`,
  };
}

const program = new Command('loadgen').description('Load generator for chatd and the bare ws baselines (issue #6).');

program
  .command('run')
  .description('One run of one scenario; prints a JSON result and a Markdown row.')
  .argument('<scenario>', 'connections | dm | group | history | flat (the same load per chat server: needs several, e.g. --cluster-dir)')
  .addOption(new Option('--server <kind>', 'server to start').choices(['chatd', 'naive', 'coalesced']).default('chatd'))
  .option('--target <url>', 'drive a running server instead (ws://host:port/ws); repeat for several servers', collect, [])
  .option('--cluster-dir <dir>', 'drive a running deploy/local/cluster (its run dir): every chat server, per-process CPU and work counters (engines from CHAT_REDIS_URL, CHAT_CASSANDRA_CONTACT_POINTS)')
  .option('--settle <s>', 'connections: measure CPU and work over --duration starting this long after the last connection opened (default: from before the first connect); --users 0 measures the server at rest')
  .option('--drain <s>', 'seconds to wait after the window for messages sent in it (dm: what has not arrived then is lost)', '3')
  .option('--secret <secret>', 'HS256 secret of the external target (CHAT_JWT_SECRET; with --cluster-dir, its run dir\'s secret file by default)', process.env.CHAT_JWT_SECRET)
  .addOption(new Option('--from <where>', 'run chatd and the baselines from dist/ or from source (tsx)').choices(['dist', 'tsx']).default('dist'))
  .addOption(new Option('--sqlite <mode>', 'CHAT_SQLITE_SYNCHRONOUS of the started chatd').choices(['full', 'normal']).default('normal'))
  .option('--cpu-prof <dir>', 'start the server with node --cpu-prof, profiles written to <dir>')
  .option('--workers <n>', 'loadgen worker processes', '2')
  .option('--source-addresses <n>', 'client source addresses 127.0.0.2…', '4')
  .option('--concurrency <n>', 'handshakes in flight per worker', '200')
  .option('--users <n>', 'connections (connections, dm)', '1000')
  .addOption(new Option('--mode <mode>', 'open: fixed total rate; max: closed loop, --window sends in flight per sender').choices(['open', 'max']).default('open'))
  .option('--rate <n>', 'open loop: messages per second, all senders', '5000')
  .option('--window <n>', 'max: sends in flight per sender', '4')
  .option('--duration <s>', 'measured seconds', '5')
  .option('--warmup <s>', 'seconds of load before measuring', '1')
  .option('--text-bytes <n>', 'message text size', '64')
  .option('--groups <n>', 'group: groups', '4')
  .option('--group-size <n>', 'group: members per group', '500')
  .option('--senders-per-group <n>', 'group: members that send', '5')
  .option('--conversations <n>', 'history: deep conversations', '4')
  .option('--depth <n>', 'history: messages per conversation', '5000')
  .option('--page-size <n>', 'history: messages per page', '50')
  .option('--server-users <n>', 'flat: users per chat server (user i on server i mod S)', String(SUITE.meshFlat.load.users))
  .option('--server-rate <n>', 'flat: DMs per second sent by each server\'s users', String(SUITE.meshFlat.load.msgPerSec))
  .option('--server-typing <n>', 'flat: typing frames per second sent by each server\'s users', String(SUITE.meshFlat.load.typingPerSec))
  .option('--server-churn <n>', 'flat: users per second of each server that disconnect and reconnect', String(SUITE.meshFlat.load.churnPerSec))
  .option('--offline <ms>', 'flat: how long a churned user stays away', String(SUITE.meshFlat.load.offlineMs))
  .option('--remote-watch <n>', 'flat: users on other servers each user DMs and watches (besides one on its own)', String(SUITE.meshFlat.load.remoteWatch))
  .option('--json <file>', 'also write the JSON result to a file')
  .action(async (scenario: string, o: Record<string, unknown>) => {
    if (!['connections', 'dm', 'group', 'history', 'flat'].includes(scenario)) program.error(`unknown scenario '${scenario}'`);
    // A cluster's run dir holds the secret deploy/local/cluster made for it, unless one was set.
    const clusterSecret = o.clusterDir ? join(resolve(o.clusterDir as string), 'secret') : undefined;
    if (!o.secret && clusterSecret && existsSync(clusterSecret)) o.secret = readFileSync(clusterSecret, 'utf8').trim();
    const opts = runOptions(scenario as ScenarioName, o);
    const probe = o.clusterDir ? new ClusterProbe(resolve(o.clusterDir as string), process.env) : undefined;
    if (probe) {
      if (opts.urls.length === 0) opts.urls = probe.wsUrls();
      opts.measured = probe.measured('mesh');
      opts.targetLabel = 'mesh';
    }
    if (opts.urls.length && !o.secret) program.error('--target needs --secret (or CHAT_JWT_SECRET): the loadgen signs user tokens');
    const result = await runScenario(opts).finally(() => probe?.close());
    const json = JSON.stringify(result, null, 2);
    if (o.json) writeFileSync(o.json as string, `${json}\n`);
    process.stdout.write(`${json}\n\n${MARKDOWN_HEADER}\n${markdownRow(result)}\n`);
  });

program
  .command('suite')
  .description('The standard suite: chatd and the baselines alternated A/B, medians and ratios; writes docs/BENCHMARKS.md.')
  .option('--runs <n>', 'runs per target and scenario', '3')
  .option('--out <file>', 'Markdown report', join(ROOT, 'docs', 'BENCHMARKS.md'))
  .option('--json <file>', 'every run as JSON', join(ROOT, 'bench', 'results.json'))
  .option('--capacity-out <file>', 'capacity model rendered from the record at the end', join(ROOT, 'docs', 'CAPACITY.md'))
  .addOption(new Option('--from <where>', 'run chatd and the baselines from dist/ or from source (tsx)').choices(['dist', 'tsx']).default('dist'))
  .option('--connections <n>', 'connections scenario size', '19500')
  .option('--only <list>', `comma-separated parts to run: embedded (${PARTS.embedded.join(', ')}), mesh (${PARTS.mesh.join(', ')}), issue-14 (${PARTS['issue-14'].join(', ')}), or those parts by name`)
  .option('--dist <dir>', 'built tree the mesh (and the cross-server chatd baseline) runs', process.env.CHAT_CLUSTER_DIST ?? join(ROOT, 'dist'))
  .option('--connection-runs <n>', 'runs of each connections step (19,500 in one chatd; 60,000 over the mesh)', '1')
  .option('--keep-mesh', "keep the mesh's run dir (bench/run/mesh-*: logs) after a successful run")
  .action(async (o: Record<string, string>) => {
    // Node exits with 0 when nothing is left to wait for, even with the suite's promise unsettled
    // (a step waiting on a process that is gone): that must not look like success.
    let settled = false;
    process.once('exit', (code) => {
      if (!settled && code === 0) {
        process.stderr.write('loadgen: the suite stopped before it finished (a step waited on nothing); bench/results.json holds the steps done so far\n');
        process.exitCode = 1;
      }
    });
    await runSuite({ root: ROOT, runs: Number(o.runs), out: o.out, json: o.json, capacityOut: o.capacityOut, from: o.from as 'dist' | 'tsx', connections: Number(o.connections), only: o.only?.split(',').map((s) => s.trim()).filter(Boolean), distDir: resolve(o.dist), keepMesh: Boolean(o.keepMesh), connectionRuns: Number(o.connectionRuns) });
    settled = true;
  });

program
  .command('doc')
  .description('Render docs/BENCHMARKS.md again from bench/results.json and bench/NOTES.md (runs nothing).')
  .option('--json <file>', 'the suite record', join(ROOT, 'bench', 'results.json'))
  .option('--out <file>', 'Markdown report', join(ROOT, 'docs', 'BENCHMARKS.md'))
  .action((o: Record<string, string>) => renderSuite({ root: ROOT, json: o.json, out: o.out }));

program
  .command('capacity')
  .description('Render docs/CAPACITY.md (the seed sized from measured per-component costs) from bench/results.json (runs nothing).')
  .option('--json <file>', 'the suite record', join(ROOT, 'bench', 'results.json'))
  .option('--out <file>', 'Markdown capacity model', join(ROOT, 'docs', 'CAPACITY.md'))
  .action((o: Record<string, string>) => writeCapacityDoc({ out: o.out, record: JSON.parse(readFileSync(o.json, 'utf8')) as SuiteRecord }));

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`loadgen: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
