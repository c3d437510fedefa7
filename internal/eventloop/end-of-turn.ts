/**
 * Work deferred to the end of the current event-loop turn (the check phase, where setImmediate
 * callbacks run), so that what a turn's I/O asked for is done once for all of it: one group
 * commit for the sends that arrived, one write per socket for the frames queued to it.
 *
 * Plain setImmediate loses a turn in a chain of such steps: an immediate queued while immediates
 * run waits for the next turn, behind all of its I/O. The deliveries of a group commit run in the
 * commit's microtasks and cork sockets; with setImmediate their frames left one turn later, which
 * under load doubled the latency of a message. Here work asked for while the turn's tasks run, or
 * in their microtasks, runs in one trailing pass of the same check phase.
 */
type Task = () => void;

let tasks: Task[] = [];
let late: Task[] = [];
/** idle: nothing queued; queued: both passes queued, tasks go to the first; late: to the second. */
let state: 'idle' | 'queued' | 'late' = 'idle';

export function atEndOfTurn(task: Task): void {
  if (state === 'idle') {
    state = 'queued';
    setImmediate(runTasks);
    setImmediate(runLate);
  }
  (state === 'queued' ? tasks : late).push(task);
}

function runTasks(): void {
  const run = tasks;
  tasks = [];
  // Set before the tasks run: what they ask for, synchronously or in the microtasks that follow
  // this callback, belongs to the trailing pass.
  state = 'late';
  runAll(run);
}

function runLate(): void {
  const run = late;
  late = [];
  state = 'idle';
  runAll(run);
}

/** Runs every task even if one throws, then rethrows the first error (an uncaught exception, as from setImmediate). */
function runAll(run: readonly Task[]): void {
  let failed: { err: unknown } | undefined;
  for (const task of run) {
    try {
      task();
    } catch (err) {
      failed ??= { err };
    }
  }
  if (failed) throw failed.err;
}
