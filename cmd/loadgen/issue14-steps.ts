import type { Mesh } from './mesh';
import { waitAtRest } from './mesh-at-rest';
import { runRamp } from './mesh-ramp';
import { num } from './report';
import type { RunOptions, RunResult } from './scenarios';
import { SUITE, type RampRecord, type Step, type Variant } from './suite-plan';

/** The suite parts of issue #14's mesh targets, in the order they run. */
export const ISSUE14_PARTS = ['mesh-idle', 'mesh-ramp', 'mesh-group-15k', 'mesh-fallback-1k'] as const;

/** Chat servers of the suite's mesh, and where its users connect. */
const n = SUITE.mesh.chatServers;
const where = `user i on chat server i mod ${n}`;

/** What the suite lends the steps below (suite.ts): its mesh, its runs, and its way of recording runs. */
export interface MeshSuite {
  mesh: Mesh;
  runs: number;
  want(part: string): boolean;
  /** Chat servers relaying (or on the forced Kafka fallback), measured and labelled `label`, fresh user ids per run. */
  onMesh(relay: boolean, label?: string): Variant;
  /** Records the steps and runs their targets alternated, `runs` times each. */
  runSteps(group: Step[], variants: Record<string, Variant>, runs?: number): Promise<void>;
  /** Records a step whose runs the caller makes with runOne. */
  addStep(step: Step): void;
  /** One run of one target of a recorded step; the result is added to the step. */
  runOne(step: Step, target: string, label: string, variant: Partial<RunOptions>): Promise<RunResult>;
  /** Writes the record and the doc with what has run so far. */
  checkpoint(): void;
  /** Records a run that failed (the doc's "What did not run"); the suite goes on with the next. */
  fail(what: string): void;
}

/**
 * Issue #14's mesh targets as suite steps: the empty mesh against 10,000 idle users and their
 * connect burst (mesh-idle), the open-loop ramp of cross-server DMs to the highest sustained rate
 * (mesh-ramp), a cross-server group of 500 at 15k deliveries/s (mesh-group-15k) and DMs over the
 * forced Kafka fallback at 1,000/s (mesh-fallback-1k). Every run starts on a mesh at rest.
 */
export async function runIssue14Steps(s: MeshSuite): Promise<void> {
  if (s.want('mesh-idle')) await idleStep(s);
  if (s.want('mesh-ramp')) await rampStep(s);
  if (s.want('mesh-group-15k')) await groupStep(s);
  if (s.want('mesh-fallback-1k')) await fallbackStep(s);
}

/** Waits for the mesh to be at rest before `what` of `step`; a wait that times out is written under the step. */
export async function rest(s: Pick<MeshSuite, 'mesh'>, step: Step, what: string): Promise<void> {
  const r = await waitAtRest(s.mesh.o.runDir);
  if (!r.atRest) (step.warnings ??= []).push(`${what} began with the mesh not at rest after ${r.waitedS.toFixed(0)} s of waiting (${r.last.connections} connections, ${r.last.work} RPCs, deliveries and sync writes in the last 2 s).`);
}

/** `v`, then a wait for the mesh to be at rest (after `v` restarted chat servers, if it did). */
function rested(s: MeshSuite, step: Step, v: Variant): Variant {
  return async (run) => {
    const opts = await v(run);
    await rest(s, step, `run ${run + 1}`);
    return opts;
  };
}

async function idleStep(s: MeshSuite): Promise<void> {
  const c = SUITE.meshIdle;
  const step: Step = {
    key: 'mesh-idle',
    phase: 'mesh',
    title: `idle cost and connect burst: the empty mesh, then ${num(c.users)} users connecting at once (${c.concurrency} handshakes in flight per loadgen worker, ${c.workers} workers) and only heartbeating over ${n} chat servers`,
    scenario: 'connections',
    targets: ['mesh-empty', 'mesh-idle'],
    overrides: { ...c },
    perTarget: { 'mesh-empty': { users: 0 } },
    differences: [['mesh-idle', 'mesh-empty']],
    results: [],
    ratios: [],
    note: `Each run: the mesh at rest, a ${c.durationS} s window of the empty mesh (mesh-empty), then ${num(c.users)} users connect (${where}; connect/s and errors are this burst's) and a ${c.durationS} s window starts ${c.settleS} s (one heartbeat interval) after the last one opened (mesh-idle). "Cores" = CPU-seconds of the window / ${c.durationS} s.`,
  };
  await s.runSteps([step], { 'mesh-empty': rested(s, step, s.onMesh(true, 'mesh-empty')), 'mesh-idle': s.onMesh(true, 'mesh-idle') });
}

async function rampStep(s: MeshSuite): Promise<void> {
  const { rates, referenceIfNone, ...run } = SUITE.meshRamp;
  const rule = SUITE.rampRule;
  const ramp: RampRecord = { rates, rule, referenceIfNone, repetitions: [] };
  const step: Step = {
    key: 'mesh-ramp',
    phase: 'mesh',
    title: `cross-server dm, open-loop ramp over the relay (${run.users} users in pairs, ${where}: every DM crosses servers) at ${rates.map(num).join(', ')} msg/s until one is not sustained`,
    scenario: 'dm',
    targets: ['mesh-relay'],
    overrides: { ...run, mode: 'open' },
    results: [],
    ratios: [],
    ramp,
    note: `A rate is sustained when delivered/s ≥ ${Math.round(rule.deliveredShare * 100)} % of the offered rate, no message sent in the ${run.durationS} s window is missing after a ${run.drainS} s drain, and p99 ≤ ${rule.maxP99Ms} ms. Each repetition (${run.warmupS} s warm-up per rate, fresh users per rate, the mesh at rest before each) stops at the first rate that is not; one that stops below ${num(referenceIfNone)}/s runs ${num(referenceIfNone)}/s once more, for the cost figures of the #14 table only.`,
  };
  s.addStep(step);
  const relay = s.onMesh(true);
  await runRamp(
    ramp,
    s.runs,
    async (rate, i) => {
      const v = await relay(i);
      await rest(s, step, `repetition ${i + 1} at ${num(rate)}/s`);
      return s.runOne(step, 'mesh-relay', `${step.key} ${rate}/s mesh-relay ${i + 1}/${s.runs}`, { ...v, rate });
    },
    () => s.checkpoint(),
  );
}

async function groupStep(s: MeshSuite): Promise<void> {
  const g = SUITE.meshGroup;
  const step: Step = {
    key: 'mesh-group-15k',
    phase: 'mesh',
    title: `cross-server group, open loop at ${g.rate} msg/s = ${num(g.rate * (g.groupSize - 1))} deliveries/s over the relay (${g.groups} groups of ${g.groupSize}, ${where}: ${n - 1} in ${n} recipients on another server)`,
    scenario: 'group',
    targets: ['mesh-relay'],
    overrides: { ...g },
    results: [],
    ratios: [],
  };
  await s.runSteps([step], { 'mesh-relay': rested(s, step, s.onMesh(true)) });
}

async function fallbackStep(s: MeshSuite): Promise<void> {
  const f = SUITE.meshFallback;
  const step: Step = {
    key: 'mesh-fallback-1k',
    phase: 'mesh',
    title: `cross-server dm over the forced Kafka fallback, open loop at ${num(f.rate)} msg/s (${f.users} users in pairs, ${where})`,
    scenario: 'dm',
    targets: ['mesh-fallback'],
    overrides: { ...f },
    results: [],
    ratios: [],
    note: `The chat servers restarted with \`CHAT_RELAY_ENABLED=false\`: every delivery to another server goes through Kafka. The relay at the same rate is the ramp's ${num(f.rate)}/s row. Lost = sent in the ${f.durationS} s window and not received after a ${f.drainS} s drain.`,
  };
  await s.runSteps([step], { 'mesh-fallback': rested(s, step, s.onMesh(false)) });
}
