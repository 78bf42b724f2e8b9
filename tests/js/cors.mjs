#!/usr/bin/env node
// A browser app on another origin calling the gateway, in headless Chromium.
//
//   node cors.mjs <pageUrl> <gatewayOrigin> <apiKey>
//       e.g. http://127.0.0.1:5001/ http://127.0.0.1:4123 nxk_...
//
// Opens <pageUrl> (served by the test, on another port than the gateway: another origin), and
// from that page:
// - `fetch`es POST <gateway>/graphql with `Authorization` and `Content-Type: application/json`
//   (a request the browser preflights), and reads the answer and its `x-request-id`;
// - opens a WebSocket to <gateway>/graphql (graphql-transport-ws), sends `connection_init` with
//   the key and subscribes to `heartbeat(count: 2, intervalMs: 50)` until `complete`.
// stdout, final line:
//   {"pageOrigin":"..","fetch":{"ok":true,"status":200,"body":{..},"requestId":".."} | {"ok":false,"error":".."},
//    "ws":{"opened":true,"events":[1,2],"completed":true,"closeCode":null} | {"opened":false,"closeCode":1006,..}}
// The script reports what the browser allowed; the caller decides what should have happened.
// Exit 0 when it ran to the end, 2 on bad usage or a fatal error.
import { launch } from './browser.mjs';

const TOTAL_DEADLINE_MS = 60_000;
const [pageUrl, gatewayOrigin, apiKey] = process.argv.slice(2);
if (!pageUrl || !gatewayOrigin || !apiKey) {
  console.error('usage: node cors.mjs <pageUrl> <gatewayOrigin> <apiKey>');
  process.exit(2);
}

let browser;
const deadline = setTimeout(async () => {
  console.error(`cors.mjs: did not finish within ${TOTAL_DEADLINE_MS / 1000} s`);
  await browser?.close().catch(() => {});
  process.exit(2);
}, TOTAL_DEADLINE_MS);

try {
  const launched = await launch();
  browser = launched.browser;
  const page = await launched.context.newPage();
  const nav = await page.goto(pageUrl, { waitUntil: 'load', timeout: 20_000 });
  if (!nav || !nav.ok()) throw new Error(`GET ${pageUrl} answered ${nav ? nav.status() : 'nothing'}`);
  const out = await page.evaluate(
    async ({ gateway, key }) => {
      const result = { pageOrigin: window.location.origin };
      try {
        const res = await fetch(`${gateway}/graphql`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ query: '{ viewer { user { email } } }' }),
        });
        result.fetch = {
          ok: true,
          status: res.status,
          body: await res.json(),
          requestId: res.headers.get('x-request-id'),
        };
      } catch (err) {
        result.fetch = { ok: false, error: String(err) };
      }
      result.ws = await new Promise((resolve) => {
        const ws = new WebSocket(`${gateway.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
        const state = { opened: false, events: [], completed: false, closeCode: null, errors: [] };
        const timer = setTimeout(() => {
          state.timedOut = true;
          ws.close();
          resolve(state);
        }, 20_000);
        ws.onopen = () => {
          state.opened = true;
          ws.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: `Bearer ${key}` } }));
        };
        ws.onmessage = (message) => {
          const msg = JSON.parse(message.data);
          if (msg.type === 'connection_ack') {
            ws.send(
              JSON.stringify({
                id: '1',
                type: 'subscribe',
                payload: { query: 'subscription { heartbeat(count: 2, intervalMs: 50) { sequence } }' },
              }),
            );
          } else if (msg.type === 'next') {
            state.events.push(msg.payload?.data?.heartbeat?.sequence ?? null);
          } else if (msg.type === 'error') {
            state.errors.push(msg.payload);
          } else if (msg.type === 'complete') {
            state.completed = true;
            ws.close(1000);
          }
        };
        ws.onclose = (event) => {
          clearTimeout(timer);
          state.closeCode = event.code;
          resolve(state);
        };
      });
      return result;
    },
    { gateway: gatewayOrigin, key: apiKey },
  );
  console.log(JSON.stringify(out));
  clearTimeout(deadline);
  await browser.close();
  process.exit(0);
} catch (err) {
  console.error(`cors.mjs: fatal: ${err?.message ?? err}`);
  clearTimeout(deadline);
  await browser?.close().catch(() => {});
  process.exit(2);
}
