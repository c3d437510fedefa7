/**
 * Structural checks of the deployment files, since neither `docker compose config` (no compose
 * plugin here) nor a Kubernetes API server is available to CI: every YAML file parses; compose and
 * Kubernetes use only settings that exist (internal/config/config-schema.ts) with values their
 * schema accepts; images are pinned; every workload has probes and resources; every reference
 * (depends_on, envFrom, Service selectors and ports, kustomization resources) resolves.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { SETTINGS } from '../internal/config/config-schema';

const ROOT = join(__dirname, '..');
const DEPLOY = join(ROOT, 'deploy');
const COMPOSE = join(DEPLOY, 'compose', 'compose.yaml');
const K8S = join(DEPLOY, 'k8s');

/** The deployables of the mesh (issue #4): `node dist/cmd/<name>/main.js`. */
const DEPLOYABLES = ['chat-server', 'session-service', 'group-service', 'history-service', 'sync-worker', 'api-server'];
const WITH_GRPC = new Set(['chat-server', 'session-service', 'group-service', 'history-service']);
/** Settings every process receives (deploy/local/README.md, "The whole mesh"). */
const COMMON = ['CHAT_HOST', 'CHAT_HTTP_PORT', 'CHAT_LOG_LEVEL', 'CHAT_JWT_SECRET', 'CHAT_REDIS_URL', 'CHAT_KAFKA_BROKERS', 'CHAT_CASSANDRA_CONTACT_POINTS', 'CHAT_CASSANDRA_LOCAL_DC', 'CHAT_CASSANDRA_KEYSPACE', 'CHAT_SESSION_SERVICE_ADDR', 'CHAT_GROUP_SERVICE_ADDR', 'CHAT_HISTORY_SERVICE_ADDR'];

const BY_ENV = new Map(Object.values(SETTINGS).map((s) => [s.env, s]));

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function obj(v: unknown, what: string): Obj {
  assert.ok(isObj(v), `${what} must be a mapping`);
  return v;
}
function arr(v: unknown, what: string): unknown[] {
  assert.ok(Array.isArray(v), `${what} must be a list`);
  return v;
}
function str(v: unknown, what: string): string {
  assert.equal(typeof v, 'string', `${what} must be a string`);
  return v as string;
}

/** Every document of a YAML file, with merge keys (`<<`) applied; parse errors and warnings fail. */
function loadYaml(file: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'), { merge: true, prettyErrors: true });
  assert.ok(!('empty' in docs), `${file} has no YAML document`);
  return docs.map((d, i) => {
    assert.deepEqual([...d.errors, ...d.warnings].map(String), [], `${relative(ROOT, file)} document ${i + 1}`);
    return obj(d.toJS(), `${relative(ROOT, file)} document ${i + 1}`);
  });
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return ['run', '.cache', 'node_modules'].includes(e.name) ? [] : yamlFiles(p);
    return /\.ya?ml$/.test(e.name) ? [p] : [];
  });
}

/** An image reference with an explicit version tag (or digest), never `latest`. */
function assertPinned(image: string, where: string): void {
  const m = /^[^@\s]+(?::([A-Za-z0-9_][A-Za-z0-9_.-]*)|@sha256:[0-9a-f]{64})$/.exec(image);
  assert.ok(m && !image.includes('${'), `${where}: image ${image} must name a version`);
  assert.ok(m[1] === undefined || (m[1] !== 'latest' && /\d/.test(m[1])), `${where}: image ${image} must be pinned to a version, not ${m[1]}`);
}

/** The name is a setting, and a literal value is one its schema accepts. */
function assertSetting(name: string, value: unknown, where: string): void {
  const setting = BY_ENV.get(name);
  assert.ok(setting, `${where}: ${name} is not a setting in internal/config/config-schema.ts`);
  if (typeof value !== 'string' || value.includes('${') || value.includes('$(')) return; // interpolated at deploy time
  const r = setting.schema.safeParse(value);
  assert.ok(r.success, `${where}: ${name}=${value} is not a valid value: ${r.success ? '' : r.error.message}`);
}

/** `node dist/cmd/<deployable>/main.js` -> the deployable. */
function deployableOf(command: unknown, where: string): string {
  const c = arr(command, `${where} command`).map((x) => str(x, `${where} command`));
  const m = c.length === 2 && c[0] === 'node' ? /^dist\/cmd\/([a-z-]+)\/main\.js$/.exec(c[1]) : null;
  assert.ok(m, `${where}: command must be ["node", "dist/cmd/<name>/main.js"], got ${JSON.stringify(c)}`);
  assert.ok(DEPLOYABLES.includes(m[1]), `${where}: ${m[1]} is not one of the deployables ${DEPLOYABLES.join(', ')}`);
  return m[1];
}

describe('deployment files', () => {
  it('every YAML file under deploy/ parses', () => {
    const files = yamlFiles(DEPLOY);
    assert.ok(files.length >= 10, `found only ${files.length} YAML files`);
    for (const f of files) loadYaml(f);
  });
});

describe('deploy/compose/compose.yaml', () => {
  const compose = loadYaml(COMPOSE)[0];
  const services = obj(compose.services, 'services');
  const ours = Object.entries(services).filter(([, s]) => str(obj(s, 'service').image, 'image').startsWith('chat-mesh:'));

  it('runs the whole topology: the engines, every deployable, three chat servers', () => {
    for (const engine of ['redis', 'kafka', 'cassandra']) assert.ok(services[engine], `service ${engine}`);
    const deployables = ours.map(([name, s]) => deployableOf(obj(s, name).command, name));
    for (const d of DEPLOYABLES) assert.ok(deployables.includes(d), `a service runs ${d}`);
    assert.equal(deployables.filter((d) => d === 'chat-server').length, 3);
  });

  it('pins every image, and builds ours from the repository Dockerfile', () => {
    for (const [name, s] of Object.entries(services)) assertPinned(str(obj(s, name).image, `${name}.image`), name);
    for (const [name, s] of ours) {
      const build = obj(obj(s, name).build, `${name}.build`);
      assert.ok(existsSync(join(DEPLOY, 'compose', str(build.context, 'context'), str(build.dockerfile, 'dockerfile'))), `${name}: build.context/dockerfile must exist`);
    }
  });

  it('gives our services the environment contract, with known settings and valid values', () => {
    const ids = new Set<string>();
    for (const [name, s] of ours) {
      const svc = obj(s, name);
      const env = obj(svc.environment, `${name}.environment`);
      const d = deployableOf(svc.command, name);
      for (const [k, v] of Object.entries(env)) assertSetting(k, v, `compose ${name}`);
      for (const k of COMMON) assert.ok(k in env, `${name} needs ${k}`);
      assert.equal(env.CHAT_HOST, '0.0.0.0', `${name} must bind all interfaces in a container`);
      if (WITH_GRPC.has(d)) assert.ok('CHAT_GRPC_PORT' in env, `${name} serves gRPC: CHAT_GRPC_PORT`);
      for (const k of ['CHAT_SESSION_SERVICE_ADDR', 'CHAT_GROUP_SERVICE_ADDR', 'CHAT_HISTORY_SERVICE_ADDR']) {
        const host = str(env[k], k).split(':')[0];
        assert.ok(services[host], `${name}: ${k} names service ${host}, which does not exist`);
      }
      if (d === 'chat-server') {
        const id = str(env.CHAT_SERVER_ID, `${name} CHAT_SERVER_ID`);
        assert.ok(!ids.has(id), `duplicate CHAT_SERVER_ID ${id}`);
        ids.add(id);
        assert.equal(env.CHAT_ADVERTISE_ADDR, `${name}:${String(env.CHAT_GRPC_PORT)}`, `${name}: peers reach it by its service name and gRPC port`);
      }
    }
  });

  it('health-checks our services on /readyz', () => {
    for (const [name, s] of ours) {
      const test = arr(obj(obj(s, name).healthcheck, `${name}.healthcheck`).test, `${name}.healthcheck.test`);
      assert.ok(test.join(' ').includes('/readyz'), `${name}: healthcheck must probe /readyz`);
    }
  });

  it('depends only on services that exist, healthy ones on a healthcheck, without cycles', () => {
    const edges = new Map<string, string[]>();
    for (const [name, s] of Object.entries(services)) {
      const deps = obj(s, name).depends_on;
      if (deps === undefined) continue;
      const entries = Object.entries(obj(deps, `${name}.depends_on`));
      edges.set(name, entries.map(([t]) => t));
      for (const [target, spec] of entries) {
        assert.ok(services[target], `${name} depends on ${target}, which does not exist`);
        const condition = obj(spec, `${name}.depends_on.${target}`).condition;
        assert.ok(['service_started', 'service_healthy', 'service_completed_successfully'].includes(str(condition, 'condition')), `${name}->${target}: condition`);
        if (condition === 'service_healthy') assert.ok(obj(services[target], target).healthcheck, `${name} waits for ${target} to be healthy, but it has no healthcheck`);
      }
    }
    const visit = (n: string, path: string[]): void => {
      assert.ok(!path.includes(n), `depends_on cycle: ${[...path, n].join(' -> ')}`);
      for (const t of edges.get(n) ?? []) visit(t, [...path, n]);
    };
    for (const n of Object.keys(services)) visit(n, []);
    // Chat servers, the API server and the sync worker call the three services.
    for (const [name, s] of ours) {
      if (!['chat-server', 'api-server', 'sync-worker'].includes(deployableOf(obj(s, name).command, name))) continue;
      for (const svc of ['session-service', 'group-service', 'history-service']) assert.ok(edges.get(name)?.includes(svc), `${name} must wait for ${svc}`);
    }
  });
});

interface K8sObject {
  kind: string;
  name: string;
  file: string;
  body: Obj;
}

describe('deploy/k8s', () => {
  const kustomization = loadYaml(join(K8S, 'kustomization.yaml'))[0];
  const resources = arr(kustomization.resources, 'resources').map((r) => str(r, 'resource'));
  const objects: K8sObject[] = resources.flatMap((file) =>
    loadYaml(join(K8S, file)).map((body) => ({ kind: str(body.kind, `${file} kind`), name: str(obj(body.metadata, `${file} metadata`).name, `${file} name`), file, body })),
  );
  const generatedSecrets = arr(kustomization.secretGenerator ?? [], 'secretGenerator').map((g) => obj(g, 'secretGenerator'));
  const workloads = objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
  const of = (kind: string) => objects.filter((o) => o.kind === kind);
  const podSpec = (w: K8sObject) => obj(obj(obj(w.body.spec, 'spec').template, 'template').spec, `${w.name} pod spec`);
  const podLabels = (w: K8sObject) => obj(obj(obj(obj(w.body.spec, 'spec').template, 'template').metadata, 'metadata').labels, `${w.name} pod labels`);
  const containers = (w: K8sObject) => arr(podSpec(w).containers, `${w.name} containers`).map((c) => obj(c, `${w.name} container`));

  it('lists every manifest in kustomization.yaml, and each listed file exists', () => {
    const onDisk = readdirSync(K8S).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml');
    assert.deepEqual([...onDisk].sort(), [...resources].sort());
    assert.equal(kustomization.namespace, 'chat-mesh');
    const image = obj(arr(kustomization.images, 'images')[0], 'images[0]');
    assert.equal(image.name, 'chat-mesh');
    assert.match(str(image.newTag, 'newTag'), /\d/);
  });

  it('runs every deployable as a workload; chat-server as a StatefulSet behind a headless Service', () => {
    const run = new Map(workloads.flatMap((w) => containers(w).map((c) => [deployableOf(c.command, w.name), w] as const)));
    for (const d of DEPLOYABLES) assert.ok(run.has(d), `a workload runs ${d}`);
    const chat = run.get('chat-server')!;
    assert.equal(chat.kind, 'StatefulSet');
    const headless = of('Service').find((s) => s.name === obj(chat.body.spec, 'spec').serviceName);
    assert.ok(headless, 'the StatefulSet serviceName names a Service');
    assert.equal(obj(headless.body.spec, 'spec').clusterIP, 'None', 'peer discovery Service is headless');
  });

  it('gives every container probes (/readyz, /healthz), requests and limits, a pinned image', () => {
    for (const w of workloads) {
      for (const c of containers(w)) {
        const where = `${w.file} ${w.name}`;
        assertPinned(str(c.image, `${where} image`), where);
        const ports = new Set(arr(c.ports, `${where} ports`).map((p) => obj(p, 'port').name));
        const probe = (key: string, path: string) => {
          const get = obj(obj(c[key], `${where} ${key}`).httpGet, `${where} ${key}.httpGet`);
          assert.equal(get.path, path, `${where} ${key}`);
          assert.ok(ports.has(get.port), `${where} ${key} port ${String(get.port)} is a named container port`);
        };
        probe('readinessProbe', '/readyz');
        probe('livenessProbe', '/healthz');
        const res = obj(c.resources, `${where} resources`);
        for (const k of ['requests', 'limits']) {
          const r = obj(res[k], `${where} resources.${k}`);
          assert.ok(r.cpu !== undefined && r.memory !== undefined, `${where} resources.${k} needs cpu and memory`);
        }
        const d = deployableOf(c.command, where);
        assert.equal(ports.has('grpc'), WITH_GRPC.has(d), `${where}: a grpc port exactly when ${d} serves gRPC`);
      }
    }
  });

  it('uses only known settings, from ConfigMaps and Secrets that exist; chat-server ids and addresses from the downward API', () => {
    const configMaps = new Map(of('ConfigMap').map((c) => [c.name, obj(c.body.data, `${c.name} data`)]));
    for (const [name, data] of configMaps) for (const [k, v] of Object.entries(data)) assertSetting(k, v, `ConfigMap ${name}`);
    const secretNames = new Set([...of('Secret').map((s) => s.name), ...generatedSecrets.map((g) => str(g.name, 'secretGenerator name'))]);
    for (const g of generatedSecrets) {
      for (const f of arr(g.envs, 'envs')) {
        const example = join(K8S, str(f, 'env file').replace(/\.env$/, '.example.env'));
        assert.ok(existsSync(example), `${String(f)} is git-ignored; ${relative(ROOT, example)} documents it`);
        for (const line of readFileSync(example, 'utf8').split('\n').filter((l) => /^[A-Z]/.test(l))) assertSetting(line.split('=')[0], undefined, relative(ROOT, example));
      }
    }
    for (const w of workloads) {
      for (const c of containers(w)) {
        const where = `${w.file} ${w.name}`;
        const provided = new Set<string>();
        for (const from of arr(c.envFrom, `${where} envFrom`).map((e) => obj(e, 'envFrom'))) {
          if (from.configMapRef) {
            const name = str(obj(from.configMapRef, 'configMapRef').name, 'name');
            assert.ok(configMaps.has(name), `${where}: ConfigMap ${name} is not defined`);
            Object.keys(configMaps.get(name)!).forEach((k) => provided.add(k));
          } else {
            const name = str(obj(from.secretRef, `${where} envFrom entry`).name, 'name');
            assert.ok(secretNames.has(name), `${where}: Secret ${name} is not defined`);
            provided.add('CHAT_JWT_SECRET');
          }
        }
        const env = arr(c.env ?? [], `${where} env`).map((e) => obj(e, 'env'));
        const referenced = env.map((e) => (typeof e.value === 'string' ? e.value : '')).join(' ');
        for (const e of env) {
          const name = str(e.name, 'env name');
          // A helper like POD_IP is fine when another variable expands it with $(NAME).
          if (!name.startsWith('CHAT_') && referenced.includes(`$(${name})`)) continue;
          assertSetting(name, e.value, where);
          provided.add(name);
        }
        for (const k of COMMON) assert.ok(provided.has(k), `${where} needs ${k}`);
        if (deployableOf(c.command, where) === 'chat-server') {
          const byName = new Map(env.map((e) => [e.name, e]));
          const field = (n: string) => obj(obj(byName.get(n)?.valueFrom, `${n}.valueFrom`).fieldRef, `${n}.fieldRef`).fieldPath;
          assert.equal(field('CHAT_SERVER_ID'), 'metadata.name');
          const ip = /^\$\((\w+)\):9090$/.exec(str(byName.get('CHAT_ADVERTISE_ADDR')?.value, 'CHAT_ADVERTISE_ADDR'));
          assert.ok(ip, 'CHAT_ADVERTISE_ADDR is $(<pod ip var>):9090');
          assert.equal(field(ip[1]), 'status.podIP');
        }
      }
    }
  });

  it('points every Service at a workload port, and the service addresses at those Services', () => {
    const services = of('Service');
    for (const s of services) {
      const spec = obj(s.body.spec, `${s.name} spec`);
      const selector = obj(spec.selector, `${s.name} selector`);
      const target = workloads.find((w) => Object.entries(selector).every(([k, v]) => podLabels(w)[k] === v));
      assert.ok(target, `Service ${s.name} selects no workload`);
      const names = new Set(containers(target).flatMap((c) => arr(c.ports, 'ports').map((p) => obj(p, 'port').name)));
      for (const p of arr(spec.ports, `${s.name} ports`).map((x) => obj(x, 'port'))) assert.ok(names.has(p.targetPort), `Service ${s.name} targetPort ${String(p.targetPort)}`);
    }
    for (const w of workloads) {
      const spec = obj(w.body.spec, 'spec');
      const match = obj(obj(spec.selector, 'selector').matchLabels, 'matchLabels');
      for (const [k, v] of Object.entries(match)) assert.equal(podLabels(w)[k], v, `${w.name}: selector matches its pod labels`);
    }
    const common = obj(of('ConfigMap').find((c) => c.name === 'chat-common')?.body.data, 'chat-common data');
    for (const k of ['CHAT_SESSION_SERVICE_ADDR', 'CHAT_GROUP_SERVICE_ADDR', 'CHAT_HISTORY_SERVICE_ADDR']) {
      const [host, port] = str(common[k], k).split(':');
      const svc = services.find((s) => s.name === host);
      assert.ok(svc, `${k} names Service ${host}`);
      const ports = arr(obj(svc.body.spec, 'spec').ports, 'ports').map((p) => obj(p, 'port'));
      assert.ok(ports.some((p) => p.name === 'grpc' && String(p.port) === port), `${k}: Service ${host} has grpc port ${port}`);
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');

  it('builds from pinned base images, with npm ci and make build, ships proto/, and runs as non-root', () => {
    const args = new Map([...dockerfile.matchAll(/^ARG (\w+)=(\S+)$/gm)].map((m) => [m[1], m[2]]));
    const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1].replace(/\$\{(\w+)\}/g, (_, n: string) => args.get(n) ?? `\${${n}}`));
    assert.ok(froms.length >= 2, 'multi-stage');
    for (const f of froms) assertPinned(f, 'Dockerfile FROM');
    assert.match(dockerfile, /npm ci/);
    assert.match(dockerfile, /make build/);
    assert.match(dockerfile, /^USER node$/m);
    // gRPC servers load proto/chat/v1 at startup, found by walking up from dist/.
    assert.match(dockerfile, /^COPY --from=build \/src\/proto \.\/proto$/m);
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const p of ['.git', 'node_modules', 'dist']) assert.ok(ignored.includes(p), `.dockerignore lists ${p}`);
  });
});
