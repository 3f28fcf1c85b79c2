// Usage: node tests/stripe-interop/api.mjs <base-url> <api-key> <command> <json-args>
// Drives Stripe's official Node SDK against a Stripe-compatible API (the fake Stripe API in tests) and prints the
// result as JSON. Commands:
//   checkout  {params, idempotencyKey}            stripe.checkout.sessions.create(params)
//   read      {subscription, customer}            retrieve one subscription, then list the customer's subscriptions
//                                                 with auto-pagination (limit 1 per page) -> {retrieved, listed: [ids]}
//   update    {subscription, params, idempotencyKey}  stripe.subscriptions.update(id, params)
import Stripe from 'stripe';

const [baseUrl, apiKey, command, json] = process.argv.slice(2);
if (!baseUrl || !apiKey || !command || !json) {
  console.error('usage: node api.mjs <base-url> <api-key> <command> <json-args>');
  process.exit(2);
}

const url = new URL(baseUrl);
const stripe = new Stripe(apiKey, {
  host: url.hostname,
  port: Number(url.port),
  protocol: url.protocol.replace(':', ''),
  maxNetworkRetries: 0,
  telemetry: false,
});
const args = JSON.parse(json);

try {
  let result;
  switch (command) {
    case 'checkout':
      result = await stripe.checkout.sessions.create(args.params, { idempotencyKey: args.idempotencyKey });
      break;
    case 'read': {
      const retrieved = await stripe.subscriptions.retrieve(args.subscription);
      const listed = [];
      for await (const sub of stripe.subscriptions.list({ customer: args.customer, status: 'all', limit: 1 })) {
        listed.push(sub.id);
      }
      result = { retrieved, listed };
      break;
    }
    case 'update':
      result = await stripe.subscriptions.update(args.subscription, args.params, { idempotencyKey: args.idempotencyKey });
      break;
    default:
      console.error(`unknown command ${command}`);
      process.exit(2);
  }
  process.stdout.write(JSON.stringify(result));
} catch (err) {
  console.error(`${err.type ?? err.name}: ${err.message}`);
  process.exit(1);
}
