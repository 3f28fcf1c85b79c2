// Offline checks of the deployment files: deploy/k8s/**/*.yaml, deploy/compose.yaml, deploy/*.Dockerfile and .dockerignore.
// No cluster and no Docker: the YAML is parsed (package yaml) and asserted on; kubectl, when present, decodes the manifests
// locally (its client-side dry run needs a server's API discovery, so it is skipped with the reason when none answers).
// Usage: node tests/deploy/manifests.mjs (test.sh runs it). node:test checks (spec reporter: ends with "ℹ pass N" and "ℹ fail M"); exits 1 when anything failed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const rel = (p) => path.relative(root, p);
const SECRET_KEYS = ['STRIPE_API_KEY', 'STRIPE_WEBHOOK_SECRET', 'ED_TOKEN_SIGNING_KEY', 'ED_POSTGRES', 'ED_REDIS', 'ED_ADMIN_OIDC_CLIENT_SECRET'];
// Values that are secrets whatever the key: Stripe keys and webhook secrets, passwords in connection strings.
const SECRET_VALUE = /\b(sk|rk)_(live|test)_[A-Za-z0-9]{4,}|\bwhsec_[A-Za-z0-9]{4,}|password\s*=\s*(?!\$\{)[^;,\s]+/i;

// Each check is a node:test test (spec reporter: its summary "ℹ pass N" / "ℹ fail M" is the count); a skip is reported as skipped.
const check = (name, fn) => test(name, fn);
const skip = (name, reason) => test(name, { skip: reason }, () => {});

// --- Kubernetes manifests
const k8sDir = path.join(root, 'deploy/k8s');
const yamlFiles = (dir) => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
  const p = path.join(dir, e.name);
  if (e.isDirectory()) return yamlFiles(p);
  return /\.ya?ml$/.test(e.name) ? [p] : [];
});
const files = fs.existsSync(k8sDir) ? yamlFiles(k8sDir).sort() : [];
const objects = []; // { file, o }
await check('deploy/k8s holds manifests', () => assert.ok(files.length > 0, 'no .yaml under deploy/k8s'));
for (const file of files) {
  await check(`parses, each document has apiVersion, kind, metadata.name: ${rel(file)}`, () => {
    const docs = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'));
    const found = [];
    for (const d of docs) {
      if (d.errors.length) throw new Error(d.errors.map((e) => e.message).join('; '));
      const o = d.toJS();
      if (o == null) continue;
      assert.ok(typeof o.apiVersion === 'string' && o.apiVersion, 'a document has no apiVersion');
      assert.ok(typeof o.kind === 'string' && o.kind, 'a document has no kind');
      assert.ok(typeof o.metadata?.name === 'string' && o.metadata.name, `a ${o.kind} has no metadata.name`);
      found.push({ file, o });
    }
    assert.ok(found.length > 0, 'no document');
    objects.push(...found);
  });
}
const ofKind = (kind) => objects.filter((x) => x.o.kind === kind).map((x) => x.o);
const deployments = ofKind('Deployment');
const jobs = ofKind('Job');
const workloads = [...deployments, ...jobs];
const podSpec = (w) => w.spec?.template?.spec ?? {};
const containersOf = (w) => [...(podSpec(w).initContainers ?? []), ...(podSpec(w).containers ?? [])];
const envOf = (c, name) => (c.env ?? []).find((e) => e.name === name);
const id = (o) => `${o.kind}/${o.metadata.name}`;
const matches = (selector, labels) => Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
const portNumber = (c, port) => (typeof port === 'number' ? port : (c.ports ?? []).find((p) => p.name === port)?.containerPort);
const probe = (c, kind) => c[kind]?.httpGet;
const byName = (name) => deployments.find((d) => d.metadata.name === name);
const controlPlane = deployments.find((d) => podSpec(d).containers?.some((c) => /controlplane/.test(c.image ?? '')));
const product = deployments.find((d) => podSpec(d).containers?.some((c) => /sidecar/.test(c.image ?? '')));

await check('no Secret with values is committed, and no manifest pins a namespace', () => {
  assert.deepEqual(ofKind('Secret').map(id), [], 'create the Secret with kubectl create secret (deploy/README.md)');
  assert.deepEqual(objects.filter((x) => x.o.metadata.namespace).map((x) => id(x.o)), []);
});

await check('every workload selects its own pod template and carries app.kubernetes.io/name', () => {
  assert.ok(workloads.length > 0, 'no Deployment or Job');
  for (const w of workloads) {
    const labels = w.spec?.template?.metadata?.labels ?? {};
    assert.ok(labels['app.kubernetes.io/name'], `${id(w)}: pod template has no app.kubernetes.io/name`);
    if (w.kind === 'Deployment') {
      const sel = w.spec?.selector?.matchLabels;
      assert.ok(sel && Object.keys(sel).length, `${id(w)}: no spec.selector.matchLabels`);
      assert.ok(matches(sel, labels), `${id(w)}: selector ${JSON.stringify(sel)} does not match the pod labels`);
    }
  }
});

await check('control-plane Deployment: 2+ replicas, liveness /livez and readiness /readyz on port 8080', () => {
  assert.ok(controlPlane, 'no Deployment runs the controlplane image');
  assert.ok((controlPlane.spec.replicas ?? 1) >= 2, `replicas ${controlPlane.spec.replicas}`);
  const c = podSpec(controlPlane).containers.find((x) => /controlplane/.test(x.image));
  assert.equal(probe(c, 'livenessProbe')?.path, '/livez');
  assert.equal(probe(c, 'readinessProbe')?.path, '/readyz');
  for (const p of ['livenessProbe', 'readinessProbe']) assert.equal(portNumber(c, probe(c, p).port), 8080, `${p} port`);
  assert.equal(envOf(c, 'ED_CONTROLPLANE_URL')?.value, 'http://0.0.0.0:8080');
});

await check('product Deployment: the sidecar container on 127.0.0.1:50051, /livez and /readyz on its admin port 51051', () => {
  assert.ok(product, 'no Deployment runs the sidecar image');
  const cs = podSpec(product).containers;
  assert.ok(cs.length >= 2, 'the sidecar must be a second container next to the product');
  const sidecar = cs.find((c) => /sidecar/.test(c.image));
  const url = new URL(envOf(sidecar, 'ED_SIDECAR_URL')?.value ?? 'http://missing');
  assert.equal(url.hostname, '127.0.0.1', `sidecar ED_SIDECAR_URL ${url}`);
  assert.equal(url.port, '50051');
  assert.equal(envOf(sidecar, 'ED_SIDECAR_ADMIN_URL')?.value, 'http://0.0.0.0:51051');
  assert.equal(probe(sidecar, 'livenessProbe')?.path, '/livez');
  assert.equal(probe(sidecar, 'readinessProbe')?.path, '/readyz');
  for (const p of ['livenessProbe', 'readinessProbe']) assert.equal(portNumber(sidecar, probe(sidecar, p).port), 51051, `${p} port`);
  assert.ok(!(sidecar.ports ?? []).some((p) => p.containerPort === 50051), 'the gRPC port is pod-local: do not expose 50051');
  for (const c of cs.filter((x) => x !== sidecar)) {
    assert.equal(envOf(c, 'ED_SIDECAR_URL')?.value, 'http://127.0.0.1:50051', `${c.name} must call the sidecar in its pod`);
  }
  const log = envOf(sidecar, 'ED_SIDECAR_DECISION_LOG')?.value;
  const mount = (sidecar.volumeMounts ?? []).find((m) => m.mountPath === log);
  assert.ok(log && mount, 'ED_SIDECAR_DECISION_LOG must be a mounted volume');
  assert.ok((podSpec(product).volumes ?? []).find((v) => v.name === mount.name)?.emptyDir, 'the decision log is an emptyDir');
});

await check('secret env vars come from secretKeyRef only (never a literal or a ConfigMap)', () => {
  for (const w of workloads) {
    for (const c of containersOf(w)) {
      for (const e of c.env ?? []) {
        const where = `${id(w)} ${c.name} ${e.name}`;
        if (SECRET_KEYS.includes(e.name)) {
          assert.ok(e.value === undefined, `${where}: literal value`);
          assert.ok(e.valueFrom?.secretKeyRef?.name && e.valueFrom.secretKeyRef.key, `${where}: not from a secretKeyRef`);
        }
        if (typeof e.value === 'string') assert.ok(!SECRET_VALUE.test(e.value), `${where}: value looks like a secret`);
      }
      for (const from of c.envFrom ?? []) {
        assert.ok(from.configMapRef || from.secretRef, `${id(w)} ${c.name}: envFrom of an unknown kind`);
      }
    }
  }
  const refs = workloads.flatMap((w) => containersOf(w).flatMap((c) => (c.env ?? []).map((e) => e.valueFrom?.secretKeyRef).filter(Boolean)));
  for (const k of ['STRIPE_API_KEY', 'STRIPE_WEBHOOK_SECRET', 'ED_TOKEN_SIGNING_KEY', 'ED_POSTGRES', 'ED_REDIS']) {
    assert.ok(refs.some((r) => r.key === k), `no container reads ${k} from a Secret`);
  }
});

await check('no ConfigMap holds a secret', () => {
  for (const cm of ofKind('ConfigMap')) {
    for (const [k, v] of Object.entries({ ...(cm.data ?? {}), ...(cm.binaryData ?? {}) })) {
      assert.ok(!SECRET_KEYS.includes(k), `${id(cm)} has ${k}`);
      assert.ok(!/SECRET|PASSWORD|API_KEY|SIGNING_KEY/i.test(k), `${id(cm)} has a secret-looking key ${k}`);
      assert.ok(!SECRET_VALUE.test(String(v)), `${id(cm)} ${k} looks like a secret`);
    }
  }
});

await check('ConfigMaps the pods need exist in deploy/k8s (optional references excepted)', () => {
  const names = new Set(ofKind('ConfigMap').map((c) => c.metadata.name));
  for (const w of workloads) {
    for (const c of containersOf(w)) {
      const refs = [...(c.envFrom ?? []).map((f) => f.configMapRef), ...(c.env ?? []).map((e) => e.valueFrom?.configMapKeyRef)].filter(Boolean);
      for (const r of refs) assert.ok(r.optional || names.has(r.name), `${id(w)} ${c.name}: ConfigMap ${r.name} is not in deploy/k8s`);
    }
  }
});

for (const w of workloads) {
  await check(`${id(w)}: every container non-root, read-only root, no privilege escalation, drops ALL, requests and limits`, () => {
    const pod = podSpec(w).securityContext ?? {};
    for (const c of containersOf(w)) {
      const s = c.securityContext ?? {};
      const where = `${c.name}`;
      assert.equal(s.runAsNonRoot ?? pod.runAsNonRoot, true, `${where}: runAsNonRoot`);
      const uid = s.runAsUser ?? pod.runAsUser;
      assert.ok(Number.isInteger(uid) && uid > 0, `${where}: runAsUser ${uid}`);
      assert.equal(s.readOnlyRootFilesystem, true, `${where}: readOnlyRootFilesystem`);
      assert.equal(s.allowPrivilegeEscalation, false, `${where}: allowPrivilegeEscalation`);
      assert.ok(s.capabilities?.drop?.includes('ALL'), `${where}: capabilities.drop ALL`);
      assert.equal((s.seccompProfile ?? pod.seccompProfile)?.type, 'RuntimeDefault', `${where}: seccompProfile`);
      assert.ok(c.resources?.requests?.cpu && c.resources?.requests?.memory, `${where}: cpu and memory requests`);
      assert.ok(c.resources?.limits?.memory, `${where}: memory limit`);
      assert.ok(c.image && !/:latest$/.test(c.image) && /:[\w.-]+$/.test(c.image.split('/').pop()), `${where}: image ${c.image} has no pinned tag`);
    }
  });
  await check(`${id(w)}: every container has a writable /tmp (emptyDir) and mounts only declared volumes`, () => {
    const volumes = new Map((podSpec(w).volumes ?? []).map((v) => [v.name, v]));
    for (const c of containersOf(w)) {
      for (const m of c.volumeMounts ?? []) assert.ok(volumes.has(m.name), `${c.name}: volume ${m.name} is not declared`);
      const tmp = (c.volumeMounts ?? []).find((m) => m.mountPath === '/tmp');
      assert.ok(tmp && volumes.get(tmp.name)?.emptyDir, `${c.name}: /tmp is not an emptyDir`);
      assert.ok(!tmp.readOnly, `${c.name}: /tmp is read-only`);
    }
  });
}

await check('a migration Job runs `migrate` with the control-plane image', () => {
  const job = jobs.find((j) => containersOf(j).some((c) => [...(c.command ?? []), ...(c.args ?? [])].includes('migrate')));
  assert.ok(job, 'no Job runs migrate');
  const c = containersOf(job).find((x) => [...(x.command ?? []), ...(x.args ?? [])].includes('migrate'));
  const cpImage = podSpec(controlPlane ?? {}).containers?.find((x) => /controlplane/.test(x.image))?.image;
  assert.equal(c.image, cpImage, 'the Job must run the image the Deployment runs');
  assert.ok(Number.isInteger(job.spec.backoffLimit), 'no backoffLimit');
  assert.ok(['Never', 'OnFailure'].includes(podSpec(job).restartPolicy), `restartPolicy ${podSpec(job).restartPolicy}`);
  assert.ok(envOf(c, 'ED_POSTGRES')?.valueFrom?.secretKeyRef, 'ED_POSTGRES from the Secret');
});

await check('a PodDisruptionBudget covers each Deployment and still lets a node drain', () => {
  const pdbs = ofKind('PodDisruptionBudget');
  assert.ok(deployments.length > 0, 'no Deployment');
  for (const d of deployments) {
    const labels = d.spec.template.metadata.labels;
    const pdb = pdbs.find((p) => p.spec?.selector?.matchLabels && matches(p.spec.selector.matchLabels, labels));
    assert.ok(pdb, `no PodDisruptionBudget selects ${id(d)}`);
    if (pdb.spec.minAvailable !== undefined) {
      assert.ok(typeof pdb.spec.minAvailable === 'string' || pdb.spec.minAvailable < (d.spec.replicas ?? 1),
        `${id(pdb)} minAvailable ${pdb.spec.minAvailable} blocks every eviction of ${d.spec.replicas} replicas`);
    }
  }
});

await check('Services select a Deployment and target a declared container port', () => {
  const services = ofKind('Service').filter((s) => s.spec?.type !== 'ExternalName');
  assert.ok(services.length > 0, 'no Service');
  for (const s of services) {
    const d = deployments.find((x) => matches(s.spec.selector, x.spec.template.metadata.labels));
    assert.ok(s.spec.selector && d, `${id(s)} selects no Deployment`);
    for (const p of s.spec.ports) {
      const target = p.targetPort ?? p.port;
      assert.ok(podSpec(d).containers.some((c) => portNumber(c, target) !== undefined), `${id(s)} targetPort ${target} is not a container port`);
    }
  }
  const cp = services.find((s) => controlPlane && matches(s.spec.selector, controlPlane.spec.template.metadata.labels));
  assert.ok(cp?.spec.ports.some((p) => p.port === 80), 'the control-plane Service listens on 80');
});

await check('pods are annotated for Prometheus: scrape, a declared port, path /metrics', () => {
  for (const d of deployments) {
    const a = d.spec.template.metadata.annotations ?? {};
    assert.equal(a['prometheus.io/scrape'], 'true', `${id(d)} prometheus.io/scrape`);
    assert.equal(a['prometheus.io/path'], '/metrics', `${id(d)} prometheus.io/path`);
    const port = Number(a['prometheus.io/port']);
    assert.ok(podSpec(d).containers.some((c) => (c.ports ?? []).some((p) => p.containerPort === port)), `${id(d)} prometheus.io/port ${a['prometheus.io/port']}`);
  }
});

// kubectl: a client-side dry run needs API discovery from a server; the local commands decode the files with no server.
const kubectl = ['/usr/bin/kubectl', ...(process.env.PATH ?? '').split(':').map((d) => path.join(d, 'kubectl'))].find((p) => fs.existsSync(p));
if (!kubectl) {
  await skip('kubectl', 'kubectl is not installed');
} else {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ed-deploy-kubectl-'));
  // A kubeconfig naming a plain-http address that refuses connections: never the user's cluster, no credential prompt.
  fs.writeFileSync(path.join(tmp, 'config'), 'apiVersion: v1\nkind: Config\nclusters: [{name: none, cluster: {server: "http://127.0.0.1:1"}}]\n'
    + 'contexts: [{name: none, context: {cluster: none}}]\ncurrent-context: none\n');
  const run = (args) => spawnSync(kubectl, [...args, '--request-timeout=5s', `--cache-dir=${path.join(tmp, 'cache')}`],
    { cwd: root, encoding: 'utf8', env: { ...process.env, KUBECONFIG: path.join(tmp, 'config'), HOME: tmp }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60000 });
  const expected = objects.map((x) => x.o.metadata.name).sort();
  const names = (out) => out.split('\n').filter(Boolean).map((l) => l.split('/').pop()).sort();
  const dry = run(['apply', '--dry-run=client', '--validate=false', '-R', '-f', 'deploy/k8s/', '-o', 'name']);
  if (dry.status !== 0 && /unable to recognize|API group list|connection refused|failed to download openapi/i.test(dry.stderr)) {
    await skip('kubectl apply --dry-run=client', 'needs API discovery from a server, none offline ('
      + (dry.stderr.split('\n').find((l) => /unable to recognize/.test(l)) ?? dry.stderr.trim().split('\n')[0]).replace(/^.*?: /, '') + ')');
  } else {
    await check('kubectl apply --dry-run=client accepts deploy/k8s', () => {
      assert.equal(dry.status, 0, dry.error?.message ?? dry.stderr.trim());
      assert.deepEqual(names(dry.stdout), expected);
    });
  }
  await check('kubectl decodes every manifest offline (label --local)', () => {
    const r = run(['label', '--local', '-R', '-f', 'deploy/k8s/', '-o', 'name', 'ed-dry-run=1']);
    assert.equal(r.status, 0, r.error?.message ?? r.stderr.trim());
    assert.deepEqual(names(r.stdout), expected);
  });
  await check('kubectl decodes the pod templates into its typed API offline (set env --local)', () => {
    const withPods = [...new Set(objects.filter((x) => ['Deployment', 'Job'].includes(x.o.kind)).map((x) => x.file))];
    for (const f of withPods) {
      const r = run(['set', 'env', '--local', '-f', rel(f), '-o', 'name', 'ED_DRY_RUN=1']);
      assert.equal(r.status, 0, `${rel(f)}: ${r.error?.message ?? r.stderr.trim()}`);
    }
  });
  fs.rmSync(tmp, { recursive: true, force: true });
}

// --- Dockerfiles (text): multi-stage, SDK build publishing a project of this repository, a non-root runtime stage
const dockerfiles = { controlplane: [8080], sidecar: [50051, 51051], sample: [5290] };
for (const [image, ports] of Object.entries(dockerfiles)) {
  const file = path.join(root, 'deploy', `${image}.Dockerfile`);
  await check(`deploy/${image}.Dockerfile: multi-stage, publishes a repo project, non-root USER in the final stage`, () => {
    assert.ok(fs.existsSync(file), 'missing');
    const lines = fs.readFileSync(file, 'utf8').replace(/\\\r?\n/g, ' ').split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const stages = [];
    for (const l of lines) {
      const [instr, ...rest] = l.split(/\s+/);
      if (/^FROM$/i.test(instr)) stages.push({ from: rest[0], lines: [] });
      else assert.ok(stages.length, `${instr} before the first FROM`);
      stages.at(-1).lines.push([instr.toUpperCase(), rest.join(' ')]);
    }
    assert.ok(stages.length >= 2, `${stages.length} stage(s)`);
    const build = stages[0];
    const final = stages.at(-1);
    assert.match(build.from, /^mcr\.microsoft\.com\/dotnet\/sdk:10\.0/);
    assert.match(final.from, /^mcr\.microsoft\.com\/dotnet\/aspnet:10\.0/);
    const publish = build.lines.find(([i, a]) => i === 'RUN' && /dotnet publish/.test(a))?.[1];
    assert.ok(publish && /-c Release/.test(publish) && /-o \/app\b/.test(publish), `no dotnet publish -c Release -o /app: ${publish}`);
    const project = publish.split(/\s+/).find((w) => w.endsWith('.csproj'));
    assert.ok(project && fs.existsSync(path.join(root, project)), `project ${project} is not in the repository`);
    const users = final.lines.filter(([i]) => i === 'USER');
    const user = users.at(-1)?.[1];
    assert.ok(user && (user === '$APP_UID' || user === '${APP_UID}' || /^[1-9]\d*(:\d+)?$/.test(user)), `final-stage USER ${user}`);
    assert.ok(final.lines.some(([i, a]) => i === 'COPY' && /--from=build/.test(a)), 'the final stage copies the build output');
    const dll = `${path.basename(project, '.csproj')}.dll`;
    const entry = final.lines.find(([i]) => i === 'ENTRYPOINT')?.[1] ?? '';
    assert.deepEqual(JSON.parse(entry), ['dotnet', dll]);
    const exposed = final.lines.filter(([i]) => i === 'EXPOSE').flatMap(([, a]) => a.split(/\s+/).map((p) => Number(p.split('/')[0])));
    for (const p of ports) assert.ok(exposed.includes(p), `EXPOSE ${p}`);
  });
}
await check('.dockerignore keeps build output, node_modules and tests out of the context', () => {
  const entries = fs.readFileSync(path.join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
  for (const e of ['**/bin', '**/obj', '**/node_modules', '.run', 'tests', 'loadtests', '.git']) assert.ok(entries.includes(e), `no ${e}`);
});

// --- compose
const composeFile = path.join(root, 'deploy/compose.yaml');
let compose = {};
await check('deploy/compose.yaml parses', () => {
  const doc = YAML.parseDocument(fs.readFileSync(composeFile, 'utf8'), { merge: true });
  if (doc.errors.length) throw new Error(doc.errors.map((e) => e.message).join('; '));
  compose = doc.toJS({ maxAliasCount: 100 });
  assert.ok(compose.services, 'no services');
});
const svc = (name) => compose.services?.[name] ?? assert.fail(`no service ${name}`);
const envMap = (s) => (Array.isArray(s.environment)
  ? Object.fromEntries(s.environment.map((e) => [e.split('=')[0], e.includes('=') ? e.slice(e.indexOf('=') + 1) : undefined]))
  : (s.environment ?? {}));
const dependsOn = (s) => (Array.isArray(s.depends_on) ? Object.fromEntries(s.depends_on.map((d) => [d, {}])) : (s.depends_on ?? {}));
const apps = ['migrate', 'controlplane', 'product', 'sidecar'];

await check('compose: postgres:17 (pg_isready) and redis:7 (appendonly yes) with health checks', () => {
  const pg = svc('postgres');
  assert.match(pg.image, /^postgres:17/);
  assert.match([].concat(pg.healthcheck?.test ?? []).join(' '), /pg_isready/);
  const redis = svc('redis');
  assert.match(redis.image, /^redis:7/);
  assert.match([].concat(redis.command ?? []).join(' '), /--appendonly yes/);
  assert.ok(redis.healthcheck?.test, 'redis has no healthcheck');
});

await check('compose: migrate runs once after postgres is healthy; the control plane waits for it', () => {
  const m = svc('migrate');
  assert.deepEqual([].concat(m.command), ['migrate']);
  assert.equal(dependsOn(m).postgres?.condition, 'service_healthy');
  assert.ok([undefined, 'no', false].includes(m.restart), `migrate restart: ${m.restart}`);
  const cp = svc('controlplane');
  assert.equal(m.image, cp.image, 'migrate runs the control-plane image');
  assert.equal(dependsOn(cp).migrate?.condition, 'service_completed_successfully');
  assert.ok(dependsOn(cp).redis, 'controlplane depends on redis');
});

await check('compose: the sidecar shares the product\'s network namespace and the product calls 127.0.0.1:50051', () => {
  const s = svc('sidecar');
  assert.equal(s.network_mode, 'service:product');
  assert.equal(new URL(envMap(s).ED_SIDECAR_URL).hostname, '127.0.0.1');
  assert.ok(!s.ports, 'a service in another network namespace cannot publish ports');
  assert.equal(envMap(svc('product')).ED_SIDECAR_URL, 'http://127.0.0.1:50051');
});

await check('compose: app services are read-only, non-root, with a tmpfs /tmp, built from deploy/*.Dockerfile', () => {
  for (const name of apps) {
    const s = svc(name);
    assert.equal(s.read_only, true, `${name}: read_only`);
    assert.ok(s.user && !/^(0|root)(:|$)/.test(String(s.user)), `${name}: user ${s.user}`);
    assert.ok([].concat(s.tmpfs ?? []).some((t) => String(t).split(':')[0] === '/tmp'), `${name}: tmpfs /tmp`);
    if (s.build) {
      const dockerfile = path.resolve(path.dirname(composeFile), s.build.context ?? '.', s.build.dockerfile ?? 'Dockerfile');
      assert.ok(fs.existsSync(dockerfile), `${name}: ${rel(dockerfile)} does not exist`);
    }
  }
});

await check('compose: no literal secret values (only ${VAR} or ${VAR:?message}, no defaults)', () => {
  const secretish = [...SECRET_KEYS, 'POSTGRES_PASSWORD', 'REDIS_PASSWORD', 'REDISCLI_AUTH'];
  for (const [name, s] of Object.entries(compose.services ?? {})) {
    for (const [k, v] of Object.entries(envMap(s))) {
      if (v === undefined || v === null) continue; // passed through from the caller's environment
      const value = String(v);
      if (secretish.includes(k)) {
        // ED_POSTGRES / ED_REDIS may spell out host and user: their password must be an interpolation.
        const secretPart = /^(ED_POSTGRES|ED_REDIS)$/.test(k) ? (value.match(/password=([^;,]*)/i)?.[1] ?? '') : value;
        if (k === 'ED_POSTGRES' || k === 'ED_REDIS') assert.ok(secretPart, `${name} ${k} has no password`);
        assert.match(secretPart, /^\$\{[A-Z_][A-Z0-9_]*(:?\?[^}]*)?\}$/, `${name} ${k}: '${secretPart}' is not a plain \${VAR} interpolation`);
      }
    }
  }
  const text = fs.readFileSync(composeFile, 'utf8');
  const hit = text.match(SECRET_VALUE);
  assert.ok(!hit, `secret-looking text: ${hit?.[0]}`);
});


