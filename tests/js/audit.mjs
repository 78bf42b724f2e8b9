#!/usr/bin/env node
// GraphQL over HTTP conformance audit of a running gateway.
//
//   node audit.mjs <graphqlUrl> <apiKey>
//
// Runs every graphql-http server audit with `Authorization: Bearer <apiKey>` on each request.
// stderr: one line per failed audit (level, name, reason, HTTP status, body excerpt).
// stdout: one final JSON line:
//   {"must":{"pass":N,"fail":N},"should":{...},"may":{...},"failures":[{"id","name","level","status","reason"}]}
// Exit 0 when no MUST audit failed, 1 when one did, 2 on bad usage or a fatal error.
import { serverAudits } from 'graphql-http';

const REQUEST_TIMEOUT_MS = 10_000;
const TOTAL_DEADLINE_MS = 120_000;

function usage(msg) {
  if (msg) console.error(`audit.mjs: ${msg}`);
  console.error('usage: node audit.mjs <graphqlUrl> <apiKey>');
  process.exit(2);
}

const [url, apiKey] = process.argv.slice(2);
if (!url || !apiKey) usage('missing arguments');
try {
  new URL(url);
} catch {
  usage(`not a URL: ${url}`);
}

let requests = 0;
async function fetchFn(input, init = {}) {
  requests += 1;
  const headers = new Headers(input instanceof Request ? input.headers : undefined);
  new Headers(init.headers).forEach((v, k) => headers.set(k, v));
  headers.set('authorization', `Bearer ${apiKey}`);
  return fetch(input, {
    ...init,
    headers,
    signal: init.signal ?? AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
}

async function excerpt(response) {
  if (!response || typeof response.clone !== 'function') return '';
  try {
    const text = await response.clone().text();
    return text.length > 300 ? `${text.slice(0, 300)}…` : text;
  } catch {
    return '';
  }
}

async function main() {
  const counts = {
    must: { pass: 0, fail: 0 },
    should: { pass: 0, fail: 0 },
    may: { pass: 0, fail: 0 },
  };
  const failures = [];
  const audits = serverAudits({ url, fetchFn });
  if (audits.length === 0) throw new Error('graphql-http returned no audits');

  for (const audit of audits) {
    const level = audit.name.split(' ', 1)[0].toLowerCase();
    if (!counts[level]) throw new Error(`unexpected audit level in "${audit.name}"`);
    let result;
    try {
      result = await audit.fn();
    } catch (err) {
      // graphql-http throws only on fatal errors (e.g. the server is unreachable).
      const code = err?.cause?.code ?? err?.code;
      if (['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EHOSTUNREACH'].includes(code)) {
        throw new Error(`cannot reach ${url}: ${code}`);
      }
      result = {
        id: audit.id,
        name: audit.name,
        status: 'error',
        reason: `audit threw: ${err?.cause?.message ?? err?.message ?? err}`,
      };
    }
    if (result.status === 'ok') {
      counts[level].pass += 1;
      continue;
    }
    counts[level].fail += 1;
    const httpStatus = result.response?.status ?? null;
    const body = await excerpt(result.response);
    failures.push({
      id: result.id ?? audit.id,
      name: result.name ?? audit.name,
      level: level.toUpperCase(),
      status: result.status,
      reason: result.reason,
      httpStatus,
    });
    console.error(
      `FAIL [${level.toUpperCase()}] ${audit.name}\n  reason: ${result.reason}` +
        (httpStatus != null ? `\n  http status: ${httpStatus}` : '') +
        (body ? `\n  body: ${body}` : ''),
    );
  }

  const total = (k) => counts[k].pass + counts[k].fail;
  console.error(
    `graphql-http audit of ${url}: MUST ${counts.must.pass}/${total('must')}, ` +
      `SHOULD ${counts.should.pass}/${total('should')}, MAY ${counts.may.pass}/${total('may')} passed ` +
      `(${requests} requests)`,
  );
  console.log(JSON.stringify({ ...counts, failures }));
  if (counts.must.fail > 0) {
    console.error(`audit.mjs: ${counts.must.fail} MUST audit(s) failed`);
    process.exit(1);
  }
  process.exit(0);
}

const deadline = setTimeout(() => {
  console.error(`audit.mjs: did not finish within ${TOTAL_DEADLINE_MS / 1000} s`);
  console.log(JSON.stringify({ error: 'timeout' }));
  process.exit(2);
}, TOTAL_DEADLINE_MS);
deadline.unref();

main().catch((err) => {
  console.error(`audit.mjs: fatal: ${err?.stack ?? err}`);
  console.log(JSON.stringify({ error: String(err?.message ?? err) }));
  process.exit(2);
});
