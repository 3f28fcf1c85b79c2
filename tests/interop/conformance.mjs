// Conformance of the sidecar's gRPC server (Grpc.AspNetCore as the sidecar composes it) against the real grpc-js peer.
// Usage: GRPC_TARGET=127.0.0.1:50051 node tests/interop/conformance.mjs
// (after `npm ci --prefix tests/interop`). The server must map the test handlers of
// tests/EntitlementDecision.Sidecar.Tests/ConformanceService.cs. Entry point in CI:
// the xunit test Conformance_GrpcJsSuite_AllPass in tests/EntitlementDecision.Sidecar.Tests.
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { runCases, sharedServerCases } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const protos = path.resolve(here, '../../protos');
const target = process.env.GRPC_TARGET;
if (!target) {
  console.error('GRPC_TARGET (host:port) is required');
  process.exit(2);
}

const definition = protoLoader.loadSync(
  ['entitlements/v1/entitlement_decision.proto', 'grpc/health/v1/health.proto'],
  { keepCase: true, longs: String, enums: String, defaults: true, includeDirs: [protos] },
);
const loaded = grpc.loadPackageDefinition(definition);
const EntitlementDecisionService = loaded.entitlements.v1.EntitlementDecisionService;
const Health = loaded.grpc.health.v1.Health;
const credentials = grpc.credentials.createInsecure();

const service = new EntitlementDecisionService(target, credentials);
const gzipService = new EntitlementDecisionService(target, credentials, {
  'grpc.default_compression_algorithm': 2, // gzip
  'grpc.default_compression_level': 2,
});
const health = new Health(target, credentials);
const rawClient = new grpc.Client(target, credentials);

const deadlineIn = (ms) => new Date(Date.now() + ms);

function unary(client, method, request, { metadata = new grpc.Metadata(), deadlineMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    let headers;
    let trailers;
    const call = client[method](request, metadata, { deadline: deadlineIn(deadlineMs) }, (err, response) => {
      if (err) reject(err);
      else resolve({ response, headers, trailers: () => trailers });
    });
    call.on('metadata', (m) => { headers = m; });
    call.on('status', (s) => { trailers = s.metadata; });
  });
}

function raw(pathName, requestBytes, { deadlineMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    rawClient.makeUnaryRequest(
      pathName,
      (x) => x,                 // serializer: the bytes as given
      (buffer) => buffer,       // deserializer: keep the bytes
      requestBytes,
      new grpc.Metadata(),
      { deadline: deadlineIn(deadlineMs) },
      (err, response) => (err ? reject(err) : resolve(response)),
    );
  });
}

async function rejects(promise, code, details) {
  try {
    await promise;
  } catch (err) {
    assert.equal(err.code, code, `expected ${grpc.status[code]}, got ${grpc.status[err.code]}: ${err.details}`);
    if (details !== undefined) assert.equal(err.details, details);
    return err;
  }
  assert.fail(`expected ${grpc.status[code]}, but the call succeeded`);
}

const check = (tenant_id, extra = {}) => ({
  tenant_id, environment: 'production', feature_key: 'api_calls', requested_quantity: '3', ...extra,
});

const cases = [
  ['CheckEntitlement OK with correct fields', async () => {
    const { response } = await unary(service, 'CheckEntitlement', check('tenant-a'));
    assert.equal(response.allowed, true);
    assert.equal(response.reason, 'DECISION_REASON_GRANTED');
    assert.equal(response.snapshot_version, '42');
    assert.equal(response.plan_id, 'tenant-a');
    assert.equal(response.metered, true);
    assert.equal(response.limit, '1000');
    assert.equal(response.used, '3');
    assert.equal(response.remaining, '997');
    assert.equal(response.resets_at.seconds, String(Date.UTC(2030, 0, 1) / 1000));
  }],
  ['CheckEntitlements OK, answers in request order', async () => {
    const { response } = await unary(service, 'CheckEntitlements', { checks: [check('t1'), check('t2')] });
    assert.deepEqual(response.results.map((r) => r.plan_id), ['t1', 't2']);
  }],
  ['INVALID_ARGUMENT with the exact non-ASCII message', async () => {
    await rejects(unary(service, 'CheckEntitlement', check('invalid')), grpc.status.INVALID_ARGUMENT,
      'tenant_id must not be empty: ü%');
  }],
  ['DEADLINE_EXCEEDED with a 200 ms deadline on the slow handler', async () => {
    const started = Date.now();
    await rejects(unary(service, 'CheckEntitlement', check('slow'), { deadlineMs: 200 }), grpc.status.DEADLINE_EXCEEDED);
    assert.ok(Date.now() - started < 3000, 'the deadline was not honoured promptly');
  }],
  ['DEADLINE_EXCEEDED when the handler ignores cancellation', async () => {
    await rejects(unary(service, 'CheckEntitlement', check('slow-ignore'), { deadlineMs: 200 }), grpc.status.DEADLINE_EXCEEDED);
  }],
  ['UNIMPLEMENTED for an unmapped method (RecordUsage)', async () => {
    await rejects(unary(service, 'RecordUsage', { tenant_id: 't', feature_key: 'f', quantity: '1', event_id: 'e' }),
      grpc.status.UNIMPLEMENTED);
  }],
  ['UNIMPLEMENTED for an unknown service/method', async () => {
    await rejects(raw('/no.such.Service/Nope', Buffer.alloc(0)), grpc.status.UNIMPLEMENTED);
  }],
  ['UNKNOWN for an unexpected exception, without its text', async () => {
    const err = await rejects(unary(service, 'CheckEntitlement', check('throw')), grpc.status.UNKNOWN);
    assert.ok(!err.details.includes('hunter2'), `exception text leaked: ${err.details}`);
  }],
  ['UNAVAILABLE for a store failure (the interceptor), without its text', async () => {
    const err = await rejects(unary(service, 'CheckEntitlement', check('store-down')), grpc.status.UNAVAILABLE,
      'snapshot store unreachable and this tenant is not cached');
    assert.ok(!err.details.includes('hunter2'), `exception text leaked: ${err.details}`);
  }],
  ['RESOURCE_EXHAUSTED for a request over 4 MiB, then the server keeps serving', async () => {
    await rejects(unary(service, 'CheckEntitlement', check('x'.repeat(5 * 1024 * 1024))), grpc.status.RESOURCE_EXHAUSTED);
    const { response } = await unary(service, 'CheckEntitlement', check('after-big'));
    assert.equal(response.plan_id, 'after-big');
  }],
  ['a response over 64 KiB arrives whole', async () => {
    const { response } = await unary(service, 'CheckEntitlement', check('big-response'));
    assert.equal(response.plan_id.length, 100_000);
  }],
  ['metadata round trip: response header and trailer', async () => {
    const metadata = new grpc.Metadata();
    metadata.set('x-request-id', 'req-123');
    const { headers, trailers } = await unary(service, 'CheckEntitlement', check('meta'), { metadata });
    assert.deepEqual(headers.get('x-request-id'), ['req-123']);
    // The status event (with trailers) may fire just after the callback.
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(trailers().get('x-request-id'), ['req-123']);
  }],
  ['gzip-compressed request succeeds', async () => {
    const { response } = await unary(gzipService, 'CheckEntitlement', check('gzip-tenant'));
    assert.equal(response.plan_id, 'gzip-tenant');
    // The "encoding" handler answers with the request's grpc-encoding: proves the request really was gzip.
    const encoding = await unary(gzipService, 'CheckEntitlement', check('encoding'));
    assert.equal(encoding.response.plan_id, 'gzip');
  }],
  ['health Check SERVING for the server and the service; NOT_FOUND for an unknown service', async () => {
    const all = await unary(health, 'Check', { service: '' });
    assert.equal(all.response.status, 'SERVING');
    const svc = await unary(health, 'Check', { service: 'entitlements.v1.EntitlementDecisionService' });
    assert.equal(svc.response.status, 'SERVING');
    await rejects(unary(health, 'Check', { service: 'no.such.Service' }), grpc.status.NOT_FOUND);
  }],
  ['100+ concurrent calls on one channel all succeed', async () => {
    const results = await Promise.all(Array.from({ length: 150 }, (_, i) =>
      unary(service, 'CheckEntitlement', check(`c${i}`))));
    results.forEach(({ response }, i) => assert.equal(response.plan_id, `c${i}`));
  }],
  ...sharedServerCases({ grpc, target, health, tenant: 'reflection-tenant' }),
];

await runCases(cases);

service.close();
gzipService.close();
health.close();
rawClient.close();
