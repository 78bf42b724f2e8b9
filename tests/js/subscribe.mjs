#!/usr/bin/env node
// graphql-transport-ws subscription check against a running gateway.
//
//   node subscribe.mjs <wsUrl> <apiKey>                          # expects 3 heartbeats then complete
//   node subscribe.mjs <wsUrl> <apiKey> --expect-auth-failure    # expects the connection to be refused
//
// The key goes in connection_init: {"Authorization":"Bearer <apiKey>"}.
// stdout, final line:
//   normal mode: {"events":[{"sequence":1,"at":"..."},...],"completed":true}
//   auth mode:   {"refused":true,"closeCode":4403,"closeReason":"Forbidden"}
// Exit 0 on the expected outcome, 1 otherwise (reason on stderr), 2 on bad usage.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const DEADLINE_MS = 20_000;
const COUNT = 3;
const QUERY = `subscription { heartbeat(count: ${COUNT}, intervalMs: 50) { sequence at } }`;
const REFUSAL_CODES = new Set([4401, 4403]);

const args = process.argv.slice(2);
const expectAuthFailure = args.includes('--expect-auth-failure');
const [wsUrl, apiKey] = args.filter((a) => a !== '--expect-auth-failure');
if (!wsUrl || !apiKey || args.length > 3) {
  console.error('usage: node subscribe.mjs <wsUrl> <apiKey> [--expect-auth-failure]');
  process.exit(2);
}
if (!/^wss?:\/\//.test(wsUrl)) {
  console.error(`subscribe.mjs: not a ws:// or wss:// URL: ${wsUrl}`);
  process.exit(2);
}

let closeEvent = null;
let acknowledged = false;

const client = createClient({
  url: wsUrl,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${apiKey}` },
  lazy: true,
  retryAttempts: 0,
  on: {
    connected: () => {
      acknowledged = true;
    },
    closed: (event) => {
      closeEvent = event;
    },
  },
});

function describeClose(ev) {
  if (!ev || typeof ev.code !== 'number') return null;
  return { code: ev.code, reason: ev.reason ? String(ev.reason) : '' };
}

let finished = false;
function finish(code, stdoutObj, message) {
  if (finished) return;
  finished = true;
  if (message) console.error(`subscribe.mjs: ${message}`);
  console.log(JSON.stringify(stdoutObj));
  // dispose closes the socket; exit right after so a hanging close cannot block us.
  Promise.resolve()
    .then(() => client.dispose())
    .catch(() => {})
    .finally(() => process.exit(code));
}

const events = [];
const deadline = setTimeout(() => {
  const close = describeClose(closeEvent);
  if (expectAuthFailure) {
    finish(
      1,
      { refused: false, acknowledged, closeCode: close?.code ?? null, timeout: true },
      `no refusal within ${DEADLINE_MS / 1000} s (acknowledged=${acknowledged})`,
    );
  } else {
    finish(
      1,
      { events, completed: false, timeout: true },
      `no complete within ${DEADLINE_MS / 1000} s; got ${events.length} event(s)`,
    );
  }
}, DEADLINE_MS);

client.subscribe(
  { query: QUERY },
  {
    next(result) {
      if (expectAuthFailure) {
        clearTimeout(deadline);
        finish(1, { refused: false, acknowledged, event: result }, 'got an event with a key that should be refused');
        return;
      }
      if (result.errors?.length) {
        clearTimeout(deadline);
        finish(
          1,
          { events, completed: false, errors: result.errors },
          `subscription payload carried errors: ${JSON.stringify(result.errors)}`,
        );
        return;
      }
      events.push(result.data?.heartbeat ?? result.data ?? null);
    },
    error(err) {
      clearTimeout(deadline);
      const close = describeClose(err) ?? describeClose(closeEvent);
      if (expectAuthFailure) {
        if (close && REFUSAL_CODES.has(close.code)) {
          console.error(`subscribe.mjs: refused as expected: close ${close.code} ${close.reason}`);
          finish(0, { refused: true, closeCode: close.code, closeReason: close.reason });
        } else {
          finish(
            1,
            { refused: false, acknowledged, closeCode: close?.code ?? null, error: errorText(err) },
            `expected close code 4401 or 4403, got ${close ? `close ${close.code} ${close.reason}` : errorText(err)}`,
          );
        }
        return;
      }
      finish(
        1,
        { events, completed: false, closeCode: close?.code ?? null, error: errorText(err) },
        `subscription failed: ${close ? `socket closed ${close.code} ${close.reason}` : errorText(err)}`,
      );
    },
    complete() {
      clearTimeout(deadline);
      if (expectAuthFailure) {
        finish(1, { refused: false, acknowledged, completed: true }, 'subscription completed with a key that should be refused');
        return;
      }
      const sequences = events.map((e) => e?.sequence);
      const ok =
        events.length === COUNT && sequences.every((s, i) => s === i + 1) && events.every((e) => e?.at != null);
      finish(
        ok ? 0 : 1,
        { events, completed: true },
        ok ? null : `expected ${COUNT} events with sequence 1..${COUNT} and an "at", got ${JSON.stringify(events)}`,
      );
    },
  },
);

function errorText(err) {
  if (err instanceof Error) return err.message;
  if (Array.isArray(err)) return JSON.stringify(err); // GraphQL errors from an "error" message
  const close = describeClose(err);
  if (close) return `close ${close.code} ${close.reason}`;
  if (err && typeof err === 'object' && 'message' in err) return String(err.message);
  return String(err);
}
