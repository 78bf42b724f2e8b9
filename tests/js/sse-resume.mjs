#!/usr/bin/env node
// The graphql-sse client (distinct connections mode) following `changes` on /graphql/stream,
// its connection dropped mid-stream, and resumed with `Last-Event-ID`.
//
//   node sse-resume.mjs <streamUrl> <apiKey> <afterCursor> <dropAfter> <total>
//
// Subscribes to `changes(after:)`; once `dropAfter` events have come, aborts the socket under
// the client (the fetch it uses is cut, as a network failure would) and prints
// {"dropped":"<last cursor>"}; the client then retries — after a line on stdin, so the caller
// can append events while it is away — sending `Last-Event-ID: <last cursor>` from its
// `headers` function. After `total` events, prints
//   {"events":[{cursor,type,remoteId},...],"ids":[every SSE id: seen],"connections":n,
//    "lastEventIds":[the Last-Event-ID sent on each connection]}
// Exit 0 when it got `total` events, 1 otherwise (reason on stderr), 2 on bad usage.
import { createClient } from 'graphql-sse';
import readline from 'node:readline';

const DEADLINE_MS = 30_000;
const QUERY = `subscription($after: String) {
  changes(after: $after) { cursor op provider type remoteId }
}`;

const [url, apiKey, after, dropAfterArg, totalArg] = process.argv.slice(2);
const dropAfter = Number(dropAfterArg);
const total = Number(totalArg);
if (!url || !apiKey || !after || !(dropAfter > 0) || !(total > dropAfter)) {
  console.error('usage: node sse-resume.mjs <streamUrl> <apiKey> <afterCursor> <dropAfter> <total>');
  process.exit(2);
}

const lines = readline.createInterface({ input: process.stdin });
let goOn = null;
const resumed = new Promise((resolve) => (goOn = resolve));
lines.on('line', () => goOn());

const events = [];
const ids = [];
const lastEventIds = [];
let connections = 0;
let cut = null; // aborts the first connection's socket
let dropped = false;

// The SSE `id:` lines of a response body, read beside the client (its parser skips them).
function watchIds(body) {
  const decoder = new TextDecoder();
  let pending = '';
  return body.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        pending += decoder.decode(chunk, { stream: true });
        const parts = pending.split('\n');
        pending = parts.pop();
        for (const line of parts) {
          if (line.startsWith('id:')) ids.push(line.slice(3).trim());
        }
        controller.enqueue(chunk);
      },
    }),
  );
}

async function fetchFn(input, init) {
  connections += 1;
  lastEventIds.push(init.headers['Last-Event-ID'] ?? null);
  const socket = new AbortController();
  init.signal?.addEventListener('abort', () => socket.abort());
  if (connections === 1) cut = () => socket.abort();
  const response = await fetch(input, { ...init, signal: socket.signal });
  if (!response.body) return response;
  return new Response(watchIds(response.body), {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

let finished = false;
function finish(code, out, message) {
  if (finished) return;
  finished = true;
  if (message) console.error(`sse-resume.mjs: ${message}`);
  console.log(JSON.stringify(out));
  client.dispose();
  process.exit(code);
}

const client = createClient({
  url,
  fetchFn,
  headers: () => {
    const headers = { Authorization: `Bearer ${apiKey}` };
    const last = events.at(-1)?.cursor;
    if (last) headers['Last-Event-ID'] = last;
    return headers;
  },
  retryAttempts: 3,
  retry: async () => {
    await resumed;
  },
});

const deadline = setTimeout(
  () => finish(1, { events, ids, connections, lastEventIds, timeout: true }, `only ${events.length} of ${total} events`),
  DEADLINE_MS,
);

client.subscribe(
  { query: QUERY, variables: { after } },
  {
    next(result) {
      if (result.errors?.length) {
        clearTimeout(deadline);
        finish(1, { events, errors: result.errors }, `errors: ${JSON.stringify(result.errors)}`);
        return;
      }
      const change = result.data.changes;
      events.push({ cursor: change.cursor, type: change.type, remoteId: change.remoteId });
      if (!dropped && events.length >= dropAfter) {
        dropped = true;
        cut();
        console.log(JSON.stringify({ dropped: change.cursor }));
      }
      if (events.length >= total) {
        clearTimeout(deadline);
        finish(0, { events, ids, connections, lastEventIds });
      }
    },
    error(err) {
      clearTimeout(deadline);
      finish(1, { events, ids, connections, error: String(err?.message ?? err) }, `subscription failed: ${err}`);
    },
    complete() {
      clearTimeout(deadline);
      finish(1, { events, ids, connections, completed: true }, 'the subscription completed');
    },
  },
);
