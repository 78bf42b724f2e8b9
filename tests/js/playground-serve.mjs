#!/usr/bin/env node
// The playground under `nexus serve` (no key handed to the page, introspection off), driven in
// headless Chromium as a person would, with no internet.
//
//   node playground-serve.mjs <gatewayOrigin> <apiKey>
//
// In one page, in order:
//  1. subscription: with the Headers editor empty, runs `subscription { heartbeat(count: 1) … }`;
//     the gateway closes the socket with 4403 and the result pane must show the refusal
//     (`"code": "UNAUTHENTICATED"`, close 4403) — the time it took is reported (`subscriptionMs`).
//  2. connections: opens the Connections panel (an UNAUTHENTICATED error without a key), types
//     {"Authorization":"Bearer <apiKey>"} into the Headers editor, and waits for the panel to
//     list the connections (`statuses`: provider → status) with that key.
//  3. docs: re-fetches the schema with that key and opens the documentation pane, which must say
//     why there are no docs (`docs.code`, `docs.text`).
// Every request leaving loopback is aborted and recorded. stdout, final line:
//   {"subscription":{"text":"…","ms":N},"connections":{"before":"…","statuses":{..}},
//    "docs":{"code":"INTROSPECTION_DISABLED","text":"…"},"sockets":1,"externalRequests":[],"pageErrors":[]}
// (`sockets`: WebSockets the page opened in all, counted at the end: a retried refusal opens more.)
// Exit 0 when all three happened, nothing left loopback and no page error; 1 otherwise (reasons on
// stderr); 2 on bad usage.
import { isLoopback, launch } from './browser.mjs';

const STEP_MS = 30_000;
const TOTAL_DEADLINE_MS = 120_000;
const SUBSCRIPTION = 'subscription { heartbeat(count: 1, intervalMs: 10) { sequence } }';

const [origin, apiKey] = process.argv.slice(2);
if (!origin || !apiKey) {
  console.error('usage: node playground-serve.mjs <gatewayOrigin> <apiKey>');
  process.exit(2);
}

const problems = [];
const externalRequests = [];
const pageErrors = [];
const out = { subscription: null, connections: null, docs: null, externalRequests, pageErrors };
let browser;

// Sets a GraphiQL CodeMirror editor's text (what typing ends up doing).
async function setEditor(page, selector, text) {
  const done = await page.evaluate(
    ([sel, value]) => {
      const cm = document.querySelector(sel)?.CodeMirror;
      if (!cm) return false;
      cm.setValue(value);
      return true;
    },
    [selector, text],
  );
  if (!done) throw new Error(`no editor at ${selector}`);
}

const editorText = (page, selector) =>
  page.evaluate((sel) => document.querySelector(sel)?.CodeMirror?.getValue() ?? '', selector);

async function main() {
  const launched = await launch();
  browser = launched.browser;
  const context = launched.context;
  await context.route('**/*', async (route) => {
    const url = route.request().url();
    if (isLoopback(url)) {
      await route.continue();
    } else {
      externalRequests.push(url);
      await route.abort('blockedbyclient');
    }
  });
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  // WebSockets the page opens: one for the refused subscription, none again (no retry).
  out.sockets = 0;
  page.on('websocket', (ws) => {
    out.sockets += 1;
    if (!isLoopback(ws.url())) externalRequests.push(ws.url());
  });

  const pageUrl = new URL('/playground/', origin).href;
  const nav = await page.goto(pageUrl, { waitUntil: 'load', timeout: 20_000 });
  if (!nav?.ok()) throw new Error(`GET ${pageUrl} answered ${nav?.status() ?? 'nothing'}`);
  await page.locator('.graphiql-query-editor .CodeMirror').first().waitFor({ state: 'visible', timeout: 20_000 });
  await page.locator('.graphiql-editor-tool .CodeMirror').first().waitFor({ state: 'attached', timeout: 20_000 });
  const headersSelector = '.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror';
  const headerEditor = (await page.locator(headersSelector).count()) ? headersSelector : '.graphiql-editor-tool .CodeMirror';

  // 1. A subscription without a key.
  await setEditor(page, headerEditor, '');
  await setEditor(page, '.graphiql-query-editor .CodeMirror', SUBSCRIPTION);
  await page.waitForFunction(
    (q) => document.querySelector('.graphiql-query-editor .CodeMirror')?.CodeMirror?.documentAST?.loc?.source?.body === q,
    SUBSCRIPTION,
    { timeout: 5_000, polling: 50 },
  );
  const started = Date.now();
  await page.locator('button.graphiql-execute-button').first().click();
  let text = '';
  while (Date.now() - started < STEP_MS) {
    text = await editorText(page, '.result-window .CodeMirror');
    if (/"errors"/.test(text) || /"sequence"/.test(text)) break;
    await page.waitForTimeout(50);
  }
  out.subscription = { text, ms: Date.now() - started };
  if (!/UNAUTHENTICATED/.test(text) || !/4403/.test(text)) {
    problems.push(`the subscription's refusal was not shown within ${STEP_MS / 1000} s: ${text.slice(0, 300) || '(empty)'}`);
  }

  // 2. The Connections panel, then a key typed into the Headers editor.
  await page.locator('.graphiql-sidebar button[aria-label="Show Connections"]').click();
  const panelError = page.locator('.nexus-connections > .nexus-connections-error');
  await panelError.waitFor({ state: 'visible', timeout: STEP_MS }).catch(() => {});
  const before = (await panelError.textContent().catch(() => null)) ?? null;
  await setEditor(page, headerEditor, JSON.stringify({ Authorization: `Bearer ${apiKey}` }, null, 2));
  const rows = page.locator('.nexus-connections li.nexus-connection');
  await rows.first().waitFor({ state: 'visible', timeout: STEP_MS }).catch(() => {});
  const statuses = {};
  for (const row of await rows.all()) {
    statuses[await row.getAttribute('data-provider')] = await row.getAttribute('data-status');
  }
  out.connections = { before, statuses };
  if (!Object.keys(statuses).length) problems.push(`the Connections panel listed nothing with the key typed in the Headers editor (before: ${before})`);

  // 3. The documentation pane, the schema fetched again with that key.
  await page.locator('.graphiql-sidebar button[aria-label="Re-fetch GraphQL schema"]').click();
  await page.locator('.graphiql-sidebar button[aria-label="Show Documentation Explorer"]').click();
  const reference = page.locator('.nexus-reference[data-code="INTROSPECTION_DISABLED"]');
  await reference.waitFor({ state: 'visible', timeout: STEP_MS }).catch(() => {});
  const shown = page.locator('.nexus-reference');
  out.docs = {
    code: (await shown.getAttribute('data-code', { timeout: 1_000 }).catch(() => null)) ?? null,
    text: (await shown.textContent({ timeout: 1_000 }).catch(() => null)) ?? null,
  };
  if (out.docs.code !== 'INTROSPECTION_DISABLED') problems.push(`the documentation pane shows ${JSON.stringify(out.docs)}`);
}

async function cleanup() {
  try {
    await browser?.close();
  } catch {
    /* ignore */
  }
}

const deadline = setTimeout(async () => {
  console.error(`playground-serve.mjs: did not finish within ${TOTAL_DEADLINE_MS / 1000} s`);
  console.log(JSON.stringify({ ...out, error: 'timeout' }));
  await cleanup();
  process.exit(1);
}, TOTAL_DEADLINE_MS);

try {
  await main();
} catch (err) {
  problems.push(`fatal: ${err?.message ?? err}`);
}
clearTimeout(deadline);
await cleanup();
if (externalRequests.length) problems.push(`requests left loopback: ${externalRequests.join(', ')}`);
if (pageErrors.length) problems.push(`page errors: ${pageErrors.join(' | ')}`);
for (const p of problems) console.error(`playground-serve.mjs: ${p}`);
console.log(JSON.stringify(out));
process.exit(problems.length ? 1 : 0);
