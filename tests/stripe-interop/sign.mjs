// Usage: node tests/stripe-interop/sign.mjs <payload-file> <secret> <unix-timestamp-seconds>
// Prints the Stripe-Signature header Stripe's official SDK produces for that payload (no newline).
import { readFileSync } from 'node:fs';
import Stripe from 'stripe';

const [payloadFile, secret, timestamp] = process.argv.slice(2);
if (!payloadFile || !secret || !timestamp || !/^\d+$/.test(timestamp)) {
  console.error('usage: node sign.mjs <payload-file> <secret> <unix-timestamp-seconds>');
  process.exit(2);
}

const stripe = new Stripe('sk_test_interop_not_used');
const payload = readFileSync(payloadFile, 'utf8');
process.stdout.write(
  stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp: Number(timestamp) }),
);
