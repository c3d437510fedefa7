/** Labels that every sample of one process carries (see ChatMetrics); dropped from keys by default. */
export const PROCESS_LABELS: readonly string[] = ['service', 'instance'];

export interface ParseMetricsOptions {
  /** Labels left out of the keys. Default {@link PROCESS_LABELS}; `[]` keeps every label. */
  dropLabels?: readonly string[];
}

/**
 * Parses the Prometheus text exposition format into `key -> value`, the key being the sample name
 * and its labels as printed, minus the dropped ones: `chat_deliveries_total{path="relay"}`,
 * `chat_connections`, `chat_relay_batch_messages_bucket{le="5"}`. Label order is the order in the
 * text (prom-client prints a metric's own labels first, `le` of a bucket last). Comments and blank
 * lines are skipped; `+Inf`, `-Inf` and `NaN` are understood (any case); a timestamp after the value is ignored.
 *
 * Samples whose keys coincide once labels are dropped are summed, so parsing the concatenated
 * scrapes of several processes gives cluster totals (`service`/`instance` differ between them).
 *
 * For tests: it assumes well-formed input and throws on a line it cannot read.
 */
export function parseMetrics(text: string, opts: ParseMetricsOptions = {}): Map<string, number> {
  const drop = new Set(opts.dropLabels ?? PROCESS_LABELS);
  const samples = new Map<string, number>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const { name, labels, rest } = readSample(line);
    const kept = labels.filter(([k]) => !drop.has(k));
    const key = kept.length === 0 ? name : `${name}{${kept.map(([k, v]) => `${k}="${escape(v)}"`).join(',')}}`;
    const value = parseValue(rest.split(/\s+/)[0] ?? '', line);
    samples.set(key, (samples.get(key) ?? 0) + value);
  }
  return samples;
}

/** `samples.get(key)`, or 0 when the series is absent. */
export function sampleValue(samples: ReadonlyMap<string, number>, key: string): number {
  return samples.get(key) ?? 0;
}

function readSample(line: string): { name: string; labels: [string, string][]; rest: string } {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
  if (!m) throw new Error(`not a Prometheus sample: ${line}`);
  const name = m[1];
  let i = name.length;
  const labels: [string, string][] = [];
  if (line[i] === '{') {
    i++;
    for (;;) {
      while (line[i] === ' ' || line[i] === ',') i++;
      if (line[i] === '}') {
        i++;
        break;
      }
      const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"/.exec(line.slice(i));
      if (!lm) throw new Error(`bad label in Prometheus sample: ${line}`);
      i += lm[0].length;
      let value = '';
      for (;;) {
        const c = line[i++];
        if (c === undefined) throw new Error(`unterminated label value in Prometheus sample: ${line}`);
        if (c === '"') break;
        if (c === '\\') {
          const e = line[i++];
          value += e === 'n' ? '\n' : (e ?? '');
        } else {
          value += c;
        }
      }
      labels.push([lm[1], value]);
    }
  }
  return { name, labels, rest: line.slice(i).trim() };
}

function parseValue(s: string, line: string): number {
  // Case-insensitive like Prometheus' own parser (Go ParseFloat); prom-client prints `Nan`.
  const lower = s.toLowerCase();
  if (lower === '+inf' || lower === 'inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  if (lower === 'nan') return NaN;
  const v = Number(s);
  if (s === '' || Number.isNaN(v)) throw new Error(`bad value in Prometheus sample: ${line}`);
  return v;
}

function escape(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
