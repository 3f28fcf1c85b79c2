import { test } from 'node:test';

// Runs [name, async fn] cases in order as node:test tests (run with --test-reporter=spec: its summary "ℹ pass N" / "ℹ fail M"
// is what test.sh and GrpcJsConformanceTests read; a failure sets the exit code).
export async function runCases(cases) {
  for (const [name, run] of cases) {
    await test(name, run);
  }
}

// Every method the sidecar serves, with its request message: unary, batch, RecordUsage, health Check and Watch (server-streaming),
// reflection (bidi-streaming).
const malformedTargets = [
  ['/entitlements.v1.EntitlementDecisionService/CheckEntitlement', 'entitlements.v1.CheckEntitlementRequest'],
  ['/entitlements.v1.EntitlementDecisionService/CheckEntitlements', 'entitlements.v1.CheckEntitlementsRequest'],
  ['/entitlements.v1.EntitlementDecisionService/RecordUsage', 'entitlements.v1.RecordUsageRequest'],
  ['/grpc.health.v1.Health/Check', 'grpc.health.v1.HealthCheckRequest'],
  ['/grpc.health.v1.Health/Watch', 'grpc.health.v1.HealthCheckRequest'],
  ['/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', 'grpc.reflection.v1.ServerReflectionRequest'],
];

// Cases both suites run against a gRPC server that is the sidecar's composition: server reflection lists and calls the service,
// health Watch streams SERVING, and raw bytes that are no protobuf message are INVALID_ARGUMENT on every method.
// `health` is a grpc.health.v1.Health client; `grpc` the @grpc/grpc-js module.
export function sharedServerCases({ grpc, target, health, tenant }) {
  return [
    ['malformed bytes are INVALID_ARGUMENT naming the message on every method, then the server keeps serving', async () => {
      const raw = new grpc.Client(target, grpc.credentials.createInsecure());
      try {
        for (const [method, message] of malformedTargets) {
          const err = await new Promise((resolve, reject) => raw.makeUnaryRequest(
            method,
            () => Buffer.from([0xff, 0xff, 0xff]), // serializer: a truncated varint tag, whatever the request
            (buffer) => buffer,
            {},
            new grpc.Metadata(),
            { deadline: new Date(Date.now() + 5000) },
            (e) => (e ? resolve(e) : reject(new Error(`${method}: the call succeeded`)))));
          if (err.code !== grpc.status.INVALID_ARGUMENT || !err.details.startsWith(`request is not a valid ${message}: `)) {
            throw new Error(`${method}: ${grpc.status[err.code]} '${err.details}', expected INVALID_ARGUMENT 'request is not a valid ${message}: ...'`);
          }
        }
      } finally {
        raw.close();
      }
      const after = await new Promise((resolve, reject) => health.Check({ service: '' }, { deadline: new Date(Date.now() + 3000) },
        (e, r) => (e ? reject(e) : resolve(r))));
      if (after.status !== 'SERVING') throw new Error(`health Check after the garbage said ${after.status}`);
    }],
    ['reflection lists the service and health; its methods are the contract\'s', async () => {
      const { GrpcReflection } = await import('grpc-js-reflection-client');
      const reflection = new GrpcReflection(target, grpc.credentials.createInsecure());
      const services = await reflection.listServices();
      for (const s of ['entitlements.v1.EntitlementDecisionService', 'grpc.health.v1.Health']) {
        if (!services.includes(s)) throw new Error(`reflection lists ${JSON.stringify(services)}, not ${s}`);
      }
      const methods = (await reflection.listMethods('entitlements.v1.EntitlementDecisionService')).map((m) => m.name).sort();
      if (JSON.stringify(methods) !== JSON.stringify(['CheckEntitlement', 'CheckEntitlements', 'RecordUsage'])) {
        throw new Error(`reflection lists methods ${JSON.stringify(methods)}`);
      }
    }],
    ['a client built from reflection alone calls CheckEntitlement', async () => {
      const { GrpcReflection } = await import('grpc-js-reflection-client');
      const reflection = new GrpcReflection(target, grpc.credentials.createInsecure());
      const descriptor = await reflection.getDescriptorBySymbol('entitlements.v1.EntitlementDecisionService');
      const pkg = descriptor.getPackageObject({ keepCase: true, longs: String, enums: String, defaults: true });
      const client = new pkg.entitlements.v1.EntitlementDecisionService(target, grpc.credentials.createInsecure());
      const answer = await new Promise((resolve, reject) => client.CheckEntitlement(
        { tenant_id: tenant, feature_key: 'projects' }, { deadline: new Date(Date.now() + 3000) },
        (err, r) => (err ? reject(err) : resolve(r))));
      if (typeof answer.allowed !== 'boolean' || !answer.reason.startsWith('DECISION_REASON_')) {
        throw new Error(`unexpected answer ${JSON.stringify(answer)}`);
      }
      client.close();
    }],
    ['health Watch streams SERVING for the server and the service', async () => {
      for (const service of ['', 'entitlements.v1.EntitlementDecisionService']) {
        const status = await new Promise((resolve, reject) => {
          const call = health.Watch({ service }, { deadline: new Date(Date.now() + 5000) });
          call.on('data', (m) => { if (m.status === 'SERVING') { resolve(m.status); call.cancel(); } });
          call.on('error', (e) => { if (e.code !== grpc.status.CANCELLED) reject(e); });
        });
        if (status !== 'SERVING') throw new Error(`Watch(${service}) said ${status}`);
      }
    }],
  ];
}
