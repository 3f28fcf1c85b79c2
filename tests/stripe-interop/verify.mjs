// Usage: node tests/stripe-interop/verify.mjs <payload-file> <secret> <stripe-signature-header> [tolerance-seconds]
// Exits 0 when Stripe's official SDK (webhooks.constructEvent) accepts the header for the payload, 1 when it
// rejects it (the reason on stderr), 2 on bad usage.
import { readFileSync } from 'node:fs';
import Stripe from 'stripe';

const [payloadFile, secret, header, tolerance = '300'] = process.argv.slice(2);
if (!payloadFile || !secret || !header || !/^\d+$/.test(tolerance)) {
  console.error('usage: node verify.mjs <payload-file> <secret> <stripe-signature-header> [tolerance-seconds]');
  process.exit(2);
}

const stripe = new Stripe('sk_test_interop_not_used');
const payload = readFileSync(payloadFile); // raw bytes, as a webhook handler receives them
try {
  const event = stripe.webhooks.constructEvent(payload, header, secret, Number(tolerance));
  console.log(`accepted ${event.id} ${event.type}`);
  process.exit(0);
} catch (err) {
  console.error(`rejected: ${err.message}`);
  process.exit(1);
}
