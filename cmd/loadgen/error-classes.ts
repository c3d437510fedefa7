import { ErrorCode } from '../../gen/chat/v1/errors';
import type { RunResult } from './scenarios';

/**
 * The class of one loadgen error key (as the workers count them: `error 11: …`, `hello: error 11:
 * …`, `socket: …`, `closed 4008`): the error frame's code by name, marked when the message says a
 * deadline passed (a gRPC DEADLINE_EXCEEDED on a hop travels to the client as UNAVAILABLE), the
 * socket's errno or HTTP status, or the close code. Keys from before hello errors carried their
 * code (`hello: <message>`) class as `hello: error`.
 */
export function errorClass(key: string): string {
  const frame = /^(hello: )?error (\d+)(?:: (.*))?$/s.exec(key);
  if (frame) {
    const name = ErrorCode[Number(frame[2])] as string | undefined;
    const deadline = /deadline exceeded/i.test(frame[3] ?? '') ? ' (deadline exceeded)' : '';
    return `${frame[1] ?? ''}${name ? name.replace(/^ERROR_CODE_/, '') : `code ${frame[2]}`}${deadline}`;
  }
  if (key.startsWith('hello: ')) return 'hello: error';
  if (key.startsWith('socket: ')) {
    const errno = /\b(E[A-Z]{3,})\b/.exec(key);
    const http = /Unexpected server response: (\d+)/.exec(key);
    return errno ? `socket ${errno[1]}` : http ? `socket: HTTP ${http[1]}` : 'socket: other';
  }
  return key;
}

/** Error counts summed by {@link errorClass}, most frequent first. */
export function errorsByClass(errors: Record<string, number>): [string, number][] {
  const out = new Map<string, number>();
  for (const [k, v] of Object.entries(errors)) out.set(errorClass(k), (out.get(errorClass(k)) ?? 0) + v);
  return [...out].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/** `UNAVAILABLE (deadline exceeded) ×12, closed 4008 ×38`, or `none`. */
export function showErrorClasses(errors: Record<string, number>): string {
  const list = errorsByClass(errors);
  return list.length ? list.map(([k, v]) => `${k} ×${v.toLocaleString('en-US')}`).join(', ') : 'none';
}

/** For the doc: each target's errors by class, and those seen while connecting; undefined when there were none. */
export function errorClassesLine(results: RunResult[]): string | undefined {
  const sum = (pick: (r: RunResult) => Record<string, number> | undefined) => {
    const by = new Map<string, Record<string, number>>();
    for (const r of results) {
      const into = by.get(r.target) ?? {};
      for (const [k, v] of Object.entries(pick(r) ?? {})) into[k] = (into[k] ?? 0) + v;
      by.set(r.target, into);
    }
    return [...by].filter(([, e]) => Object.keys(e).length).map(([t, e]) => `${t}: ${showErrorClasses(e)}`);
  };
  const all = sum((r) => r.errors);
  if (all.length === 0) return undefined;
  const connecting = sum((r) => r.connectErrors);
  return `Errors by code: ${all.join('; ')}.${connecting.length ? ` Of these, while connecting: ${connecting.join('; ')}.` : ''}`;
}
