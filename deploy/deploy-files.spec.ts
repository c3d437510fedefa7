/**
 * Structural checks of the deployment files, since neither `docker compose config` (no compose
 * plugin here) nor a Kubernetes API server is available to CI: every YAML file parses; compose and
 * Kubernetes use only settings that exist (internal/config/config-schema.ts) with values their
 * schema accepts; images are pinned; every workload has probes and resources; every reference
 * (depends_on, envFrom, Service selectors and ports, kustomization resources) resolves. And the
 * replicated shape (issue #17): every service runs at least two replicas, Kubernetes workloads each
 * have one PodDisruptionBudget and node anti-affinity, service addresses are dns:/// targets of
 * headless Services (compose: of replicated services), no two compose services bind one host port,
 * and the engines' replication settings agree between compose and Kubernetes.
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
/** Each service address setting and the deployable it names. */
const SERVICE_ADDRS: Record<string, string> = { CHAT_SESSION_SERVICE_ADDR: 'session-service', CHAT_GROUP_SERVICE_ADDR: 'group-service', CHAT_HISTORY_SERVICE_ADDR: 'history-service' };
/** The engines' replication settings, which compose and Kubernetes both set. */
const REPLICATION = ['CHAT_KAFKA_REPLICATION_FACTOR', 'CHAT_KAFKA_MIN_INSYNC_REPLICAS', 'CHAT_CASSANDRA_REPLICATION_FACTOR', 'CHAT_CASSANDRA_CONSISTENCY'];
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

/** `dns:///host:port` (a service address in the form the deploy files use) -> host and port. */
function dnsTarget(address: unknown, what: string): { host: string; port: number } {
  const m = /^dns:\/\/\/([a-z0-9.-]+):(\d{1,5})$/.exec(str(address, what));
  assert.ok(m, `${what}=${String(address)} must be dns:///<name>:<port>, so that clients resolve every replica`);
  return { host: m[1], port: Number(m[2]) };
}

/** Every label of a matchLabels selector is on the pod. */
function selects(matchLabels: unknown, labels: Obj): boolean {
  return isObj(matchLabels) && Object.keys(matchLabels).length > 0 && Object.entries(matchLabels).every(([k, v]) => labels[k] === v);
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
      for (const [k, want] of Object.entries(SERVICE_ADDRS)) {
        const { host, port } = dnsTarget(env[k], `${name} ${k}`);
        const target = services[host];
        assert.ok(target, `${name}: ${k} names service ${host}, which does not exist`);
        assert.equal(deployableOf(obj(target, host).command, host), want, `${name}: ${k} names ${host}, which does not run ${want}`);
        assert.equal(String(obj(obj(target, host).environment, host).CHAT_GRPC_PORT), String(port), `${name}: ${k} port is ${host}'s CHAT_GRPC_PORT`);
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

describe('deploy/compose/compose.yaml: replicas', () => {
  const compose = loadYaml(COMPOSE)[0];
  const services = obj(compose.services, 'services');
  const ours = Object.entries(services).filter(([, s]) => str(obj(s, 'service').image, 'image').startsWith('chat-mesh:'));
  const replicas = (name: string): number => {
    const s = obj(services[name], name);
    const n = s.scale ?? (isObj(s.deploy) ? s.deploy.replicas : undefined) ?? 1;
    assert.ok(Number.isInteger(n) && (n as number) >= 1, `${name}: replicas must be a positive integer`);
    return n as number;
  };
  /** Host ports a service binds, or `ephemeral` for a port published on whatever is free. */
  const hostPorts = (name: string): string[] =>
    arr(obj(services[name], name).ports ?? [], `${name}.ports`).map((p) => {
      if (isObj(p)) return typeof p.published === 'number' || (typeof p.published === 'string' && p.published !== '') ? String(p.published) : 'ephemeral';
      const parts = String(p).replace(/\/(tcp|udp)$/, '').split(':');
      return parts.length === 1 || parts[parts.length - 2] === '' ? 'ephemeral' : parts[parts.length - 2];
    });
  const engineData = obj(loadYaml(join(K8S, 'engines-configmap.yaml'))[0].data, 'chat-engines data');

  it('runs two replicas of every service but the chat servers, and one of each chat server (its own id)', () => {
    for (const [name, s] of ours) {
      const d = deployableOf(obj(s, name).command, name);
      if (d === 'chat-server') assert.equal(replicas(name), 1, `${name}: one container per CHAT_SERVER_ID`);
      else assert.equal(replicas(name), 2, `${name}: deploy.replicas`);
    }
  });

  it('binds each host port once: none from a replicated service, no two services on one', () => {
    const owner = new Map<string, string>();
    for (const name of Object.keys(services)) {
      for (const port of hostPorts(name).filter((p) => p !== 'ephemeral')) {
        assert.equal(replicas(name), 1, `${name} has ${replicas(name)} replicas and publishes host port ${port}: they would collide`);
        assert.ok(!owner.has(port), `host port ${port} published by both ${owner.get(port)} and ${name}`);
        owner.set(port, name);
      }
    }
  });

  it('fronts the api-server replicas with an ingress whose origin the chat servers accept', () => {
    const [name, ingress] = Object.entries(services).find(([, s]) => obj(obj(s, 'service').depends_on ?? {}, 'depends_on')['api-server'] !== undefined && !str(obj(s, 'service').image, 'image').startsWith('chat-mesh:')) ?? [];
    assert.ok(name && ingress, 'a service in front of api-server');
    const conf = arr(obj(ingress, name).volumes, `${name}.volumes`).map((v) => /^(\.\/[^:]+):/.exec(str(v, 'volume'))?.[1]).find((f) => f !== undefined);
    assert.ok(conf, `${name} mounts its configuration from deploy/compose`);
    const text = readFileSync(join(DEPLOY, 'compose', conf), 'utf8');
    assert.match(text, /^\s*resolver 127\.0\.0\.11\b/m, `${conf}: resolves through Docker's DNS`);
    assert.match(text, /^\s*server api-server:8080 resolve;/m, `${conf}: balances over every api-server replica, re-resolved`);
    const [port] = hostPorts(name);
    assert.equal(port, '8080', `${name} publishes the api-server's host port`);
    for (const [chat, s] of ours) {
      const env = obj(obj(s, chat).environment, chat);
      if (deployableOf(obj(s, chat).command, chat) !== 'chat-server') continue;
      const origins = str(env.CHAT_ALLOWED_ORIGINS, `${chat} CHAT_ALLOWED_ORIGINS`).split(',');
      assert.ok(origins.includes(`http://127.0.0.1:${port}`), `${chat}: the web client's origin http://127.0.0.1:${port} may open /ws`);
    }
  });

  it('sets the engines\' replication as Kubernetes does, at values its single engines allow', () => {
    const nodes = (image: string) => Object.keys(services).filter((n) => str(obj(services[n], n).image, 'image').startsWith(image)).reduce((sum, n) => sum + replicas(n), 0);
    const brokers = nodes('apache/kafka:');
    const cassandras = nodes('cassandra:');
    for (const k of REPLICATION) assert.ok(k in engineData, `deploy/k8s/engines-configmap.yaml sets ${k}`);
    for (const [name, s] of ours) {
      const env = obj(obj(s, name).environment, name);
      for (const k of REPLICATION) assert.ok(k in env, `${name} sets ${k}, as Kubernetes does`);
      const rf = Number(env.CHAT_KAFKA_REPLICATION_FACTOR);
      const isr = Number(env.CHAT_KAFKA_MIN_INSYNC_REPLICAS);
      assert.ok(rf >= 1 && rf <= brokers, `${name}: Kafka replication factor ${rf} with ${brokers} broker(s)`);
      assert.ok(isr >= 1 && isr <= rf, `${name}: min.insync.replicas ${isr} of ${rf}`);
      const crf = Number(env.CHAT_CASSANDRA_REPLICATION_FACTOR);
      assert.ok(crf >= 1 && crf <= cassandras, `${name}: Cassandra replication factor ${crf} with ${cassandras} node(s)`);
      assert.equal(env.CHAT_CASSANDRA_CONSISTENCY, engineData.CHAT_CASSANDRA_CONSISTENCY, `${name}: the consistency level Kubernetes uses`);
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
  });

  it('points the service addresses at headless Services (dns:///<name>.<namespace>.svc.cluster.local), so clients reach every pod', () => {
    const services = of('Service');
    const common = obj(of('ConfigMap').find((c) => c.name === 'chat-common')?.body.data, 'chat-common data');
    for (const [k, want] of Object.entries(SERVICE_ADDRS)) {
      const { host, port } = dnsTarget(common[k], k);
      const m = /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local$/.exec(host);
      assert.ok(m, `${k}: ${host} must be <service>.<namespace>.svc.cluster.local`);
      assert.equal(m[2], kustomization.namespace, `${k}: the namespace is kustomization.yaml's`);
      const svc = services.find((s) => s.name === m[1]);
      assert.ok(svc, `${k} names Service ${m[1]}, which does not exist`);
      const spec = obj(svc.body.spec, `${svc.name} spec`);
      assert.equal(spec.clusterIP, 'None', `${k}: Service ${svc.name} must be headless, or each client's one connection goes to one pod`);
      assert.ok(!spec.publishNotReadyAddresses, `${k}: Service ${svc.name} must list only ready pods`);
      const grpc = arr(spec.ports, 'ports').map((p) => obj(p, 'port')).find((p) => p.name === 'grpc');
      assert.ok(grpc, `${k}: Service ${svc.name} has a grpc port`);
      const target = workloads.find((w) => selects(spec.selector, podLabels(w)));
      assert.ok(target, `Service ${svc.name} selects no workload`);
      const c = containers(target).find((x) => deployableOf(x.command, target.name) === want);
      assert.ok(c, `${k}: Service ${svc.name} selects ${target.name}, which does not run ${want}`);
      // A headless name resolves to pod IPs: clients dial the port of the address on the pod itself.
      const containerPort = arr(c.ports, 'ports').map((p) => obj(p, 'port')).find((p) => p.name === grpc.targetPort || p.containerPort === grpc.targetPort);
      assert.equal(containerPort?.containerPort, port, `${k}: port ${port} must be ${want}'s gRPC container port`);
    }
  });

  it('serves the gRPC of session, group and history only through headless Services', () => {
    for (const s of of('Service')) {
      const spec = obj(s.body.spec, `${s.name} spec`);
      const target = workloads.find((w) => selects(spec.selector, podLabels(w)));
      if (!target || !containers(target).some((c) => Object.values(SERVICE_ADDRS).includes(deployableOf(c.command, target.name)))) continue;
      const grpc = arr(spec.ports, 'ports').some((p) => obj(p, 'port').name === 'grpc');
      if (grpc) assert.equal(spec.clusterIP, 'None', `Service ${s.name} offers gRPC through a ClusterIP, which pins each client to one pod`);
    }
  });

  it('runs at least two replicas of every workload, and rolls Deployments without dropping below them', () => {
    for (const w of workloads) {
      const spec = obj(w.body.spec, `${w.name} spec`);
      assert.ok(typeof spec.replicas === 'number' && spec.replicas >= 2, `${w.name}: replicas ${String(spec.replicas)}, at least 2`);
      if (w.kind === 'Deployment') {
        const rolling = obj(obj(spec.strategy, `${w.name} strategy`).rollingUpdate, `${w.name} rollingUpdate`);
        assert.equal(rolling.maxUnavailable, 0, `${w.name}: a rollout starts a new pod before stopping an old one`);
      }
    }
  });

  it('covers every workload with exactly one PodDisruptionBudget that lets one pod go at a time', () => {
    const pdbs = of('PodDisruptionBudget');
    for (const p of pdbs) {
      const sel = obj(obj(p.body.spec, `${p.name} spec`).selector, `${p.name} selector`);
      assert.equal(sel.matchExpressions, undefined, `${p.name}: matchLabels only`);
      assert.ok(workloads.some((w) => selects(sel.matchLabels, podLabels(w))), `PodDisruptionBudget ${p.name} selects no workload`);
    }
    for (const w of workloads) {
      const covering = pdbs.filter((p) => selects(obj(obj(p.body.spec, 'spec').selector, 'selector').matchLabels, podLabels(w)));
      // The eviction API refuses to evict a pod that more than one budget covers.
      assert.equal(covering.length, 1, `${w.name}: one PodDisruptionBudget, found ${covering.map((p) => p.name).join(', ') || 'none'}`);
      const spec = obj(covering[0].body.spec, 'spec');
      const replicas = obj(w.body.spec, 'spec').replicas as number;
      if (w.kind === 'StatefulSet') {
        assert.equal(spec.maxUnavailable, 1, `${w.name}: at most one server down for a drain`);
        assert.equal(spec.minAvailable, undefined, `${w.name}: maxUnavailable only`);
      } else {
        const [key, value] = spec.maxUnavailable !== undefined ? ['maxUnavailable', spec.maxUnavailable] : ['minAvailable', spec.minAvailable];
        assert.ok(Number.isInteger(value) && (value as number) >= 1 && (value as number) < replicas, `${w.name}: PodDisruptionBudget ${key} ${String(value)} must keep one pod up and let one go, of ${replicas}`);
        assert.ok(spec.maxUnavailable === undefined || spec.minAvailable === undefined, `${w.name}: one of maxUnavailable and minAvailable`);
      }
    }
  });

  it('prefers to put every workload\'s pods on different nodes (and zone spread never blocks scheduling)', () => {
    for (const w of workloads) {
      const others = workloads.filter((o) => o !== w);
      const anti = obj(obj(podSpec(w).affinity, `${w.name} affinity`).podAntiAffinity, `${w.name} podAntiAffinity`);
      const terms = arr(anti.preferredDuringSchedulingIgnoredDuringExecution, `${w.name} preferred anti-affinity`).map((t) => obj(t, 'term'));
      const ok = terms.some((t) => {
        const term = obj(t.podAffinityTerm, 'podAffinityTerm');
        const match = obj(term.labelSelector, 'labelSelector').matchLabels;
        return term.topologyKey === 'kubernetes.io/hostname' && typeof t.weight === 'number' && t.weight >= 1 && t.weight <= 100 && selects(match, podLabels(w)) && !others.some((o) => selects(match, podLabels(o)));
      });
      assert.ok(ok, `${w.name}: a preferred anti-affinity term on kubernetes.io/hostname selecting its own pods, and only them`);
      for (const c of arr(podSpec(w).topologySpreadConstraints ?? [], `${w.name} topologySpreadConstraints`).map((x) => obj(x, 'constraint'))) {
        assert.equal(c.whenUnsatisfiable, 'ScheduleAnyway', `${w.name}: topology spread is a preference`);
        assert.ok(selects(obj(c.labelSelector, 'labelSelector').matchLabels, podLabels(w)), `${w.name}: topology spread counts its own pods`);
      }
    }
  });

  it('asks the engines for replication: Kafka RF 3 with min.insync.replicas 2, Cassandra RF 3 at a quorum, and shows Sentinel', () => {
    const engines = of('ConfigMap').find((c) => c.name === 'chat-engines');
    assert.ok(engines);
    const data = obj(engines.body.data, 'chat-engines data');
    const rf = Number(data.CHAT_KAFKA_REPLICATION_FACTOR);
    const isr = Number(data.CHAT_KAFKA_MIN_INSYNC_REPLICAS);
    assert.ok(rf >= 3, `Kafka replication factor ${rf}, at least 3`);
    assert.ok(isr >= 2 && isr < rf, `min.insync.replicas ${isr}: at least 2, and below ${rf} so that a publish survives one broker down`);
    assert.ok(Number(data.CHAT_CASSANDRA_REPLICATION_FACTOR) >= 3, 'Cassandra replication factor at least 3');
    assert.ok(['LOCAL_QUORUM', 'QUORUM'].includes(str(data.CHAT_CASSANDRA_CONSISTENCY, 'CHAT_CASSANDRA_CONSISTENCY')), 'Cassandra reads and writes at a quorum');
    // Settings shown commented out (they depend on the operator's Redis) must still be valid.
    const commented = [...readFileSync(join(K8S, engines.file), 'utf8').matchAll(/^\s*#\s*(CHAT_[A-Z0-9_]+): *(\S+)\s*$/gm)];
    for (const [, k, v] of commented) assertSetting(k, v, `${engines.file} (commented)`);
    assert.ok(commented.some(([, k]) => k === 'CHAT_REDIS_SENTINELS') || 'CHAT_REDIS_SENTINELS' in data, `${engines.file} shows CHAT_REDIS_SENTINELS`);
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
