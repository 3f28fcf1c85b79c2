// A grpc-js client written against protos/ alone, calling the REAL sidecar that test.sh started.
// It creates a tenant through the control plane (operator token), then asserts answers and statuses.
// Usage (test.sh does this): GRPC_TARGET=127.0.0.1:50151 ED_CONTROLPLANE_URL=http://127.0.0.1:5180 \
//   ED_E2E_OPERATOR_TOKEN=... node tests/interop/sidecar.mjs
// node:test cases (spec reporter: ends with "ℹ pass N" and "ℹ fail M"); exits 1 when anything failed.
import assert from 'node:assert/strict';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { runCases, sharedServerCases } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const target = process.env.GRPC_TARGET;
const controlPlane = process.env.ED_CONTROLPLANE_URL;
const token = process.env.ED_E2E_OPERATOR_TOKEN;
if (!target || !controlPlane || !token) {
  console.error('GRPC_TARGET, ED_CONTROLPLANE_URL and ED_E2E_OPERATOR_TOKEN are required (test.sh sets them)');
  process.exit(2);
}

const definition = protoLoader.loadSync(
  ['entitlements/v1/entitlement_decision.proto', 'grpc/health/v1/health.proto'],
  { keepCase: true, longs: String, enums: String, defaults: true, includeDirs: [path.resolve(here, '../../protos')] },
);
const loaded = grpc.loadPackageDefinition(definition);
const client = new loaded.entitlements.v1.EntitlementDecisionService(target, grpc.credentials.createInsecure());
const health = new loaded.grpc.health.v1.Health(target, grpc.credentials.createInsecure());

const call = (c, method, request, deadlineMs = 3000) => new Promise((resolve, reject) => {
  c[method](request, { deadline: new Date(Date.now() + deadlineMs) }, (err, response) => (err ? reject(err) : resolve(response)));
});
const expectStatus = async (promise, code, messagePart) => {
  await assert.rejects(promise, (err) => {
    assert.equal(err.code, code, `status ${err.code} (${err.details})`);
    if (messagePart) assert.ok(err.details.includes(messagePart), `message '${err.details}' lacks '${messagePart}'`);
    return true;
  });
};

const tenant = `grpcjs-${randomUUID().slice(0, 8)}`;
const created = await fetch(`${controlPlane}/tenants`, {
  method: 'POST',
  headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  body: JSON.stringify({ tenant_id: tenant, name: 'grpc-js interop', environment: 'production' }),
});
if (!created.ok) {
  console.error(`POST /tenants -> ${created.status} ${await created.text()}`);
  process.exit(1);
}
// Wait (bounded) until the sidecar knows the tenant: the control plane publishes its snapshot asynchronously.
for (let i = 0; i < 300; i++) {
  const r = await call(client, 'CheckEntitlement', { tenant_id: tenant, feature_key: 'projects' });
  if (r.reason !== 'DECISION_REASON_UNKNOWN_TENANT') break;
  await new Promise((res) => setTimeout(res, 10));
}

const cases = [
  ['health Check answers SERVING', async () => {
    const r = await call(health, 'Check', { service: '' });
    assert.equal(r.status, 'SERVING');
  }],
  ['boolean feature of the baseline plan is granted', async () => {
    const r = await call(client, 'CheckEntitlement', { tenant_id: tenant, environment: 'production', feature_key: 'projects' });
    assert.equal(r.allowed, true);
    assert.equal(r.reason, 'DECISION_REASON_GRANTED');
    assert.equal(r.plan_id, 'free');
    assert.equal(r.metered, false);
    assert.ok(Number(r.snapshot_version) >= 1);
  }],
  ['feature outside the plan is denied with NOT_IN_PLAN (an answer, not an error)', async () => {
    const r = await call(client, 'CheckEntitlement', { tenant_id: tenant, feature_key: 'advanced_reports' });
    assert.equal(r.allowed, false);
    assert.equal(r.reason, 'DECISION_REASON_NOT_IN_PLAN');
  }],
  ['unknown tenant is denied with UNKNOWN_TENANT', async () => {
    const r = await call(client, 'CheckEntitlement', { tenant_id: `nobody-${randomUUID().slice(0, 8)}`, feature_key: 'projects' });
    assert.equal(r.allowed, false);
    assert.equal(r.reason, 'DECISION_REASON_UNKNOWN_TENANT');
    assert.equal(r.snapshot_version, '0');
  }],
  ['metered feature reports limit, used, remaining and resets_at', async () => {
    const r = await call(client, 'CheckEntitlement', { tenant_id: tenant, feature_key: 'exports', requested_quantity: 1 });
    assert.equal(r.allowed, true);
    assert.equal(r.metered, true);
    assert.equal(r.limit, '3');
    assert.equal(r.used, '0');
    assert.equal(r.remaining, '3');
    assert.ok(r.resets_at && Number(r.resets_at.seconds) * 1000 > Date.now());
  }],
  ['RecordUsage counts once per event_id and enforces the limit', async () => {
    const event = randomUUID();
    const first = await call(client, 'RecordUsage', { tenant_id: tenant, feature_key: 'exports', quantity: 2, event_id: event });
    assert.deepEqual([first.accepted, first.duplicate, first.used, first.remaining], [true, false, '2', '1']);
    const again = await call(client, 'RecordUsage', { tenant_id: tenant, feature_key: 'exports', quantity: 2, event_id: event });
    assert.deepEqual([again.accepted, again.duplicate, again.used], [true, true, '2']);
    const over = await call(client, 'RecordUsage', { tenant_id: tenant, feature_key: 'exports', quantity: 2, event_id: randomUUID() });
    assert.deepEqual([over.accepted, over.reason, over.used], [false, 'DECISION_REASON_LIMIT_EXCEEDED', '2']);
    const check = await call(client, 'CheckEntitlement', { tenant_id: tenant, feature_key: 'exports', requested_quantity: 2 });
    assert.deepEqual([check.allowed, check.reason, check.remaining], [false, 'DECISION_REASON_LIMIT_EXCEEDED', '1']);
  }],
  ['RecordUsage takes the full usage event schema and answers the window and limit mode', async () => {
    const r = await call(client, 'RecordUsage', {
      tenant_id: tenant, feature_key: 'api_calls', quantity: 3, event_id: randomUUID(), timestamp: { seconds: Math.floor(Date.now() / 1000) - 1, nanos: 0 },
      service: 'api-gateway', unit: 'call', request_id: 'req-interop-1', trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
      source_digest: `sha256:${'ab'.repeat(32)}`,
    });
    assert.deepEqual([r.accepted, r.reason, r.used, r.limit, r.limit_mode, r.over_limit, r.overage], [true, 'DECISION_REASON_GRANTED', '3', '1000', 'LIMIT_MODE_HARD', false, '0']);
    assert.ok(r.window_end && Number(r.window_end.seconds) * 1000 > Date.now());
    const undeclared = await call(client, 'RecordUsage', { tenant_id: tenant, feature_key: 'api_calls', quantity: 1, event_id: randomUUID(), service: 'not-declared-anywhere' });
    assert.deepEqual([undeclared.accepted, undeclared.undeclared], [true, true]);
  }],
  ['RecordUsage with another unit or a malformed trace_id is INVALID_ARGUMENT naming the field', async () => {
    await expectStatus(call(client, 'RecordUsage', { tenant_id: tenant, feature_key: 'api_calls', quantity: 1, event_id: randomUUID(), unit: 'request' }), grpc.status.INVALID_ARGUMENT, 'unit');
    await expectStatus(call(client, 'RecordUsage', { tenant_id: tenant, feature_key: 'api_calls', quantity: 1, event_id: randomUUID(), trace_id: 'nope' }), grpc.status.INVALID_ARGUMENT, 'trace_id');
  }],
  ['CheckEntitlement with requested_quantity over a hard limit says by how much, without counting', async () => {
    const before = await call(client, 'CheckEntitlement', { tenant_id: tenant, feature_key: 'api_calls', requested_quantity: 0 });
    const r = await call(client, 'CheckEntitlement', { tenant_id: tenant, feature_key: 'api_calls', requested_quantity: 2000 });
    assert.deepEqual([r.allowed, r.reason, r.limit_mode, r.over_limit], [false, 'DECISION_REASON_LIMIT_EXCEEDED', 'LIMIT_MODE_HARD', true]);
    assert.equal(Number(r.overage), 2000 - Number(r.remaining));
    const after = await call(client, 'CheckEntitlement', { tenant_id: tenant, feature_key: 'api_calls', requested_quantity: 0 });
    assert.equal(after.used, before.used);
  }],
  ['CheckEntitlements answers in request order', async () => {
    const r = await call(client, 'CheckEntitlements', { checks: [
      { tenant_id: tenant, feature_key: 'projects' },
      { tenant_id: tenant, feature_key: 'sso' },
    ] });
    assert.deepEqual(r.results.map((x) => x.reason), ['DECISION_REASON_GRANTED', 'DECISION_REASON_NOT_IN_PLAN']);
  }],
  ['empty tenant_id is INVALID_ARGUMENT with a message', async () => {
    await expectStatus(call(client, 'CheckEntitlement', { tenant_id: '', feature_key: 'projects' }), grpc.status.INVALID_ARGUMENT, 'tenant_id must not be empty');
  }],
  ['negative requested_quantity is INVALID_ARGUMENT', async () => {
    await expectStatus(call(client, 'CheckEntitlement', { tenant_id: tenant, feature_key: 'exports', requested_quantity: -1 }), grpc.status.INVALID_ARGUMENT, 'requested_quantity');
  }],
  ['more than 100 checks is INVALID_ARGUMENT', async () => {
    const checks = Array.from({ length: 101 }, () => ({ tenant_id: tenant, feature_key: 'projects' }));
    await expectStatus(call(client, 'CheckEntitlements', { checks }), grpc.status.INVALID_ARGUMENT, '1..100');
  }],
  ['RecordUsage without event_id is INVALID_ARGUMENT', async () => {
    await expectStatus(call(client, 'RecordUsage', { tenant_id: tenant, feature_key: 'exports', quantity: 1 }), grpc.status.INVALID_ARGUMENT, 'event_id');
  }],
  ['RecordUsage stamped 60 days ago is INVALID_ARGUMENT naming the timestamp', async () => {
    const sixtyDaysAgo = Math.floor(Date.now() / 1000) - 60 * 86400;
    await expectStatus(call(client, 'RecordUsage', { tenant_id: tenant, feature_key: 'api_calls', quantity: 1, event_id: randomUUID(), timestamp: { seconds: sixtyDaysAgo, nanos: 0 } }),
      grpc.status.INVALID_ARGUMENT, 'timestamp');
  }],
  ...sharedServerCases({ grpc, target, health, tenant }),
];

await runCases(cases);
client.close();
health.close();
