#!/usr/bin/env node
// The playground page, driven like a person would in headless Chromium, with no internet.
//
//   node playground.mjs <gatewayOrigin> [screenshot.png]      e.g. http://127.0.0.1:4123
//
// Opens <origin>/playground/, waits for GraphiQL, replaces the query with
// `{ viewer { user { email } project { name } } }`, clicks Execute and waits for the result.
// Every request leaving loopback (127.0.0.0/8, localhost, [::1]) is aborted and recorded.
// stdout, final line:
//   {"result":{...},"externalRequests":[...],"requests":N,"title":"...","headersEditorHasAuthorization":true,...}
// Exit 0 when the result came back with data.viewer and no errors, nothing tried to leave loopback,
// no page error and no failed load; 1 otherwise (reasons on stderr); 2 on bad usage.
import { isLoopback, launch } from './browser.mjs';

const RESULT_DEADLINE_MS = 30_000;
const TOTAL_DEADLINE_MS = 90_000;
const QUERY = '{ viewer { user { email } project { name } } }';
const EXPECTED_TITLE = 'Nexus Gateway — Playground';
const [origin, screenshotPath] = process.argv.slice(2);
if (!origin) {
  console.error('usage: node playground.mjs <gatewayOrigin> [screenshot.png]');
  process.exit(2);
}
let pageUrl;
try {
  pageUrl = new URL('/playground/', origin).href;
} catch {
  console.error(`playground.mjs: not a URL: ${origin}`);
  process.exit(2);
}

const problems = [];
const externalRequests = [];
const consoleErrors = [];
const out = { result: null, externalRequests, requests: 0 };
let browser;

async function main() {
  // launch() gives Chromium a fresh temporary --user-data-dir and deletes it on close.
  const launched = await launch();
  browser = launched.browser;
  const context = launched.context;

  await context.route('**/*', async (route) => {
    const url = route.request().url();
    out.requests += 1;
    if (isLoopback(url)) {
      await route.continue();
    } else {
      externalRequests.push(url);
      await route.abort('blockedbyclient');
    }
  });

  const page = await context.newPage();
  page.on('websocket', (ws) => {
    if (!isLoopback(ws.url())) {
      externalRequests.push(ws.url());
    }
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const full = msg.text();
    const text = full.length > 300 ? `${full.slice(0, 300)}…` : full;
    consoleErrors.push(text);
    if (/failed to load|net::ERR_|refused to|content security policy|404|not found/i.test(text)) {
      problems.push(`console error: ${text}`);
    }
  });
  page.on('requestfailed', (req) => {
    if (isLoopback(req.url())) {
      problems.push(`request failed: ${req.method()} ${req.url()} (${req.failure()?.errorText ?? 'unknown'})`);
    }
  });
  page.on('response', (res) => {
    if (res.status() >= 400) {
      problems.push(`HTTP ${res.status()} for ${res.request().method()} ${res.url()}`);
    }
  });

  const nav = await page.goto(pageUrl, { waitUntil: 'load', timeout: 20_000 });
  if (!nav || !nav.ok()) throw new Error(`GET ${pageUrl} answered ${nav ? nav.status() : 'nothing'}`);
  out.title = await page.title();
  if (out.title !== EXPECTED_TITLE) problems.push(`page title is ${JSON.stringify(out.title)}`);

  const queryEditor = page.locator('.graphiql-query-editor .CodeMirror').first();
  await queryEditor.waitFor({ state: 'visible', timeout: 20_000 });

  // Replace the query through CodeMirror's own API (what typing would end up doing);
  // fall back to the keyboard if the API is not reachable.
  const viaApi = await page.evaluate((q) => {
    const cm = document.querySelector('.graphiql-query-editor .CodeMirror')?.CodeMirror;
    if (!cm) return false;
    cm.setValue(q);
    cm.focus();
    return true;
  }, QUERY);
  if (!viaApi) {
    await queryEditor.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(QUERY);
  }
  // GraphiQL parses the editor contents after a 100 ms debounce; a person types slower than
  // that, a script does not: wait until GraphiQL's parsed document is the new query.
  await page
    .waitForFunction(
      (q) => {
        const cm = document.querySelector('.graphiql-query-editor .CodeMirror')?.CodeMirror;
        return cm?.documentAST?.loc?.source?.body === q;
      },
      QUERY,
      { timeout: 5_000, polling: 50 },
    )
    .catch(() => problems.push('GraphiQL did not parse the new query within 5 s'));
  out.query = await page.evaluate(
    () => document.querySelector('.graphiql-query-editor .CodeMirror')?.CodeMirror?.getValue() ?? null,
  );

  // Informational: the headers editor was pre-filled from /playground/settings.json.
  out.headersEditorHasAuthorization = await page.evaluate(() =>
    [...document.querySelectorAll('.CodeMirror')].some((el) =>
      /"Authorization"\s*:/.test(el.CodeMirror?.getValue() ?? ''),
    ),
  );

  await page.locator('button.graphiql-execute-button').first().click();

  const started = Date.now();
  let text = '';
  while (Date.now() - started < RESULT_DEADLINE_MS) {
    text = await page.evaluate(() => {
      const el = document.querySelector('.result-window .CodeMirror');
      return el?.CodeMirror?.getValue() ?? el?.textContent ?? '';
    });
    if (text.includes('"viewer"') && text.includes('"email"')) break;
    if (/"errors"\s*:/.test(text)) break;
    await page.waitForTimeout(200);
  }
  try {
    out.result = JSON.parse(text);
  } catch {
    out.result = text || null;
  }
  out.resultMs = Date.now() - started;

  if (!text.includes('"viewer"') || !text.includes('"email"')) {
    problems.push(`no viewer/email in the result pane within ${RESULT_DEADLINE_MS / 1000} s: ${text.slice(0, 500) || '(empty)'}`);
  } else if (typeof out.result === 'object' && out.result !== null) {
    if (out.result.errors) problems.push(`result has errors: ${JSON.stringify(out.result.errors)}`);
    if (!out.result.data?.viewer) problems.push('result has no data.viewer');
  }

  if (screenshotPath) {
    await page.screenshot({ path: screenshotPath, fullPage: false });
    out.screenshot = screenshotPath;
  }
}

async function cleanup() {
  try {
    await browser?.close();
  } catch {
    /* ignore */
  }
}

const deadline = setTimeout(async () => {
  console.error(`playground.mjs: did not finish within ${TOTAL_DEADLINE_MS / 1000} s`);
  console.log(JSON.stringify({ ...out, error: 'timeout' }));
  await cleanup();
  process.exit(1);
}, TOTAL_DEADLINE_MS);

let code = 0;
try {
  await main();
} catch (err) {
  problems.push(`fatal: ${err?.message ?? err}`);
}
clearTimeout(deadline);
await cleanup();

if (externalRequests.length) problems.push(`requests left loopback: ${externalRequests.join(', ')}`);
out.consoleErrors = consoleErrors;
if (problems.length) {
  for (const p of problems) console.error(`playground.mjs: ${p}`);
  code = 1;
} else {
  console.error(`playground.mjs: ok: ${out.requests} requests, result in ${out.resultMs} ms`);
}
console.log(JSON.stringify(out));
process.exit(code);
