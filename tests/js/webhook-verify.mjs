// Verifies the deliveries a test receiver recorded with the official Standard Webhooks library
// (npm `standardwebhooks`), once per secret given: `node webhook-verify.mjs <file>`, where the
// file holds `{ secrets: [...], deliveries: [{ id, timestamp, signature, body }] }`. Prints
// `{ "results": [[bool per secret] per delivery] }` on its last line.
import { readFileSync } from 'node:fs';
import { Webhook } from 'standardwebhooks';

const { secrets, deliveries } = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const results = deliveries.map((d) =>
  secrets.map((secret) => {
    try {
      new Webhook(secret).verify(d.body, {
        'webhook-id': d.id,
        'webhook-timestamp': d.timestamp,
        'webhook-signature': d.signature,
      });
      return true;
    } catch {
      return false;
    }
  }),
);
console.log(JSON.stringify({ results }));
