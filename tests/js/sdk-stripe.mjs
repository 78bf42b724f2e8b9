// Receives the sandbox's Stripe deliveries and verifies them with the official library,
// stripe 23.2.0: `stripe.webhooks.constructEvent` checks each signature, and each object is
// checked against the fields the library's own type declarations require (every property not
// marked optional in `Charge`, `Invoice`, `InvoiceLineItem` and `EventBase`, and in the nested
// types named below). Prints one JSON report line for tests/it/sdk_stripe.rs.
//
// usage: node sdk-stripe.mjs <sandbox origin>

import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import Stripe from 'stripe';

const [origin] = process.argv.slice(2);
if (!origin) {
  console.error('usage: node sdk-stripe.mjs <sandbox origin>');
  process.exit(2);
}
const secret = 'whsec_sdk_stripe_test_secret';
const stripe = new Stripe('sk_test_unused_the_library_verifies_offline');

const TYPES = [
  'charge.succeeded',
  'charge.failed',
  'charge.captured',
  'charge.updated',
  'charge.refunded',
  'invoice.created',
  'invoice.finalized',
  'invoice.updated',
  'invoice.paid',
  'invoice.payment_succeeded',
  'invoice.payment_failed',
  'invoice.voided',
];

// The library's declarations, beside the module Node resolves for it (`…/stripe/cjs/…`).
const require = createRequire(import.meta.url);
const root = dirname(dirname(require.resolve('stripe')));
const declarations = (file) => readFileSync(join(root, 'esm/resources', file), 'utf8');

/** The required (not `?`) property names of the first `interface <name> {` in `text`. */
function required(text, name) {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => new RegExp(`^(\\s*)(export )?interface ${name} \\{`).test(l));
  if (start < 0) throw new Error(`no interface ${name}`);
  const indent = lines[start].match(/^\s*/)[0].length;
  const field = new RegExp(`^ {${indent + 4}}([a-z0-9_]+)(\\?)?:`);
  const names = [];
  for (let i = start + 1; i < lines.length; i++) {
    if (new RegExp(`^ {${indent}}\\}`).test(lines[i])) break;
    const m = lines[i].match(field);
    if (m && !m[2]) names.push(m[1]);
  }
  return names;
}

const charges = declarations('Charges.d.ts');
const invoices = declarations('Invoices.d.ts');
const shapes = {
  event: required(declarations('Events.d.ts'), 'EventBase'),
  charge: {
    '': required(charges, 'Charge'),
    billing_details: required(charges, 'BillingDetails'),
    outcome: required(charges, 'Outcome'),
    payment_method_details: required(charges, 'PaymentMethodDetails'),
  },
  invoice: {
    '': required(invoices, 'Invoice'),
    automatic_tax: required(invoices, 'AutomaticTax'),
    issuer: required(invoices, 'Issuer'),
    payment_settings: required(invoices, 'PaymentSettings'),
    status_transitions: required(invoices, 'StatusTransitions'),
    'lines.data.0': required(declarations('InvoiceLineItems.d.ts'), 'InvoiceLineItem'),
  },
};

const at = (object, path) =>
  path === '' ? object : path.split('.').reduce((o, k) => (o == null ? o : o[k]), object);

/** `path.field` for each required field an object lacks (present as null is fine). */
function missing(object, byPath) {
  const out = [];
  for (const [path, fields] of Object.entries(byPath)) {
    const part = at(object, path);
    for (const f of fields) {
      if (part == null || !(f in part)) out.push(path ? `${path}.${f}` : f);
    }
  }
  return out;
}

// A receiver on a free loopback port.
const deliveries = [];
let arrived = () => {};
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    deliveries.push({ headers: req.headers, body: Buffer.concat(chunks) });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"received":true}');
    arrived();
  });
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${server.address().port}/stripe`;

async function admin(path, body) {
  const r = await fetch(`${origin}/_sandbox${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
}

await admin('/webhooks', { provider: 'stripe', url, secret });
for (const type of TYPES) await admin('/stripe/events', { type });
const deadline = Date.now() + 15_000;
while (deliveries.length < TYPES.length && Date.now() < deadline) {
  await new Promise((resolve) => {
    arrived = resolve;
    setTimeout(resolve, 200);
  });
}
server.close();

const report = { delivered: deliveries.length, events: {} };
for (const { headers, body } of deliveries) {
  const event = stripe.webhooks.constructEvent(body, headers['stripe-signature'], secret);
  const object = event.data.object;
  const kind = object.object === 'charge' ? 'charge' : 'invoice';
  report.events[event.type] = {
    userAgent: headers['user-agent'],
    contentType: headers['content-type'],
    apiVersion: event.api_version,
    object: object.object,
    status: object.status,
    missingEventFields: missing(event, { '': shapes.event }),
    missingObjectFields: missing(object, shapes[kind]),
    paid: kind === 'invoice' ? object.amount_paid : object.paid,
  };
}
report.requiredCounts = {
  charge: shapes.charge[''].length,
  invoice: shapes.invoice[''].length,
  event: shapes.event.length,
};

// A body changed after signing is refused by the library.
const first = deliveries[0];
try {
  const tampered = Buffer.from(first.body.toString().replace('"livemode":false', '"livemode":true'));
  stripe.webhooks.constructEvent(tampered, first.headers['stripe-signature'], secret);
  report.tamperedRefused = false;
} catch (e) {
  report.tamperedRefused = e.type === 'StripeSignatureVerificationError';
}

console.log(JSON.stringify(report));
