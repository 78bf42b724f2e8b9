#!/usr/bin/env node
// One `changes` subscription (no `types:`) over each channel — graphql-ws on the WebSocket,
// graphql-sse on /graphql/stream — both from `after`, until each has seen an event of type
// `<awaited>`.
//
//   node lifecycle.mjs <httpOrigin> <apiKey> <afterCursor> <awaited>
//
// stdout, final line: {"ws":[{op,provider,type,remoteId},...],"sse":[...]}
// Exit 0 when both channels saw it, 1 otherwise (reason on stderr), 2 on bad usage.
import { createClient as createWsClient } from 'graphql-ws';
import { createClient as createSseClient } from 'graphql-sse';
import WebSocket from 'ws';

const DEADLINE_MS = 30_000;
const QUERY = `subscription($after: String) {
  changes(after: $after) { cursor op provider type remoteId data }
}`;

const [origin, apiKey, after, awaited] = process.argv.slice(2);
if (!origin || !apiKey || !after || !awaited) {
  console.error('usage: node lifecycle.mjs <httpOrigin> <apiKey> <afterCursor> <awaited>');
  process.exit(2);
}

const seen = { ws: [], sse: [] };
const done = { ws: false, sse: false };

const ws = createWsClient({
  url: `${origin.replace(/^http/, 'ws')}/graphql`,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${apiKey}` },
  retryAttempts: 0,
});
const sse = createSseClient({
  url: `${origin}/graphql/stream`,
  headers: { Authorization: `Bearer ${apiKey}` },
  retryAttempts: 0,
});

let finished = false;
function finish(code, message) {
  if (finished) return;
  finished = true;
  if (message) console.error(`lifecycle.mjs: ${message}`);
  console.log(JSON.stringify(seen));
  Promise.resolve()
    .then(() => Promise.all([ws.dispose(), sse.dispose()]))
    .catch(() => {})
    .finally(() => process.exit(code));
}

const deadline = setTimeout(
  () => finish(1, `no ${awaited} within ${DEADLINE_MS / 1000} s on ${Object.keys(done).filter((k) => !done[k])}`),
  DEADLINE_MS,
);

for (const [name, client] of [['ws', ws], ['sse', sse]]) {
  client.subscribe(
    { query: QUERY, variables: { after } },
    {
      next(result) {
        if (result.errors?.length) {
          clearTimeout(deadline);
          finish(1, `${name}: ${JSON.stringify(result.errors)}`);
          return;
        }
        const { op, provider, type, remoteId, data } = result.data.changes;
        seen[name].push({ op, provider, type, remoteId, data });
        if (type === awaited) {
          done[name] = true;
          if (done.ws && done.sse) {
            clearTimeout(deadline);
            finish(0);
          }
        }
      },
      error(err) {
        clearTimeout(deadline);
        finish(1, `${name} failed: ${err?.message ?? JSON.stringify(err)}`);
      },
      complete() {
        if (!done[name]) {
          clearTimeout(deadline);
          finish(1, `${name} completed before ${awaited}`);
        }
      },
    },
  );
}
