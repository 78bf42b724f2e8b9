#!/usr/bin/env node
// The playground's Connect flow, driven like a person would in headless Chromium, with no internet.
//
//   node connect.mjs <gatewayOrigin> <providerEnum> [screenshotPrefix]   e.g. http://127.0.0.1:4123 HUBSPOT
//
// Opens <origin>/playground/, opens the Connections panel, checks the provider is NOT_CONNECTED,
// clicks its Connect button, lands on the provider's consent page (the sandbox, another loopback
// port), clicks Approve, comes back through <origin>/oauth/<slug>/callback to
// /playground/?connected=<slug>, and waits until the panel (opened again by the page, with a
// "Connected <provider>" notice) shows the provider CONNECTED. With a screenshot prefix, writes
// <prefix>-before.png and <prefix>-after.png of the panel.
// With --deny, refuses instead (the consent form's deny button): the gateway's callback returns to
// /playground/?error=access_denied&error_description=…&provider=<slug>, and the panel (opened again)
// must show a "Could not connect <provider>: …" notice and the provider still NOT_CONNECTED.
// Every request leaving loopback (127.0.0.0/8, localhost, [::1]) is aborted and recorded (the
// requests a redirect leads to cannot be aborted, only recorded: they fail the run all the same).
// stdout, final line:
//   {"provider":"HUBSPOT","before":"NOT_CONNECTED","after":"CONNECTED","visited":[...],"notice":"Connected HubSpot",...}
// Exit 0 when the provider went from NOT_CONNECTED to CONNECTED this way, nothing tried to leave
// loopback, no page error and no failed load; 1 otherwise (reasons on stderr); 2 on bad usage or
// when the playground cannot be reached.
import { isLoopback, launch } from './browser.mjs';

const CONNECTED_DEADLINE_MS = 30_000;
const TOTAL_DEADLINE_MS = 120_000;
const deny = process.argv.includes('--deny');
const [origin, provider, screenshotPrefix] = process.argv.slice(2).filter((a) => a !== '--deny');
if (!origin || !provider) {
  console.error('usage: node connect.mjs <gatewayOrigin> <providerEnum> [screenshotPrefix]');
  process.exit(2);
}
if (!/^[A-Z][A-Z0-9_]*$/.test(provider)) {
  console.error(`connect.mjs: not a Provider enum value: ${provider} (e.g. HUBSPOT)`);
  process.exit(2);
}
let gatewayOrigin;
let pageUrl;
try {
  gatewayOrigin = new URL(origin).origin;
  pageUrl = new URL('/playground/', origin).href;
} catch {
  console.error(`connect.mjs: not a URL: ${origin}`);
  process.exit(2);
}
const slug = provider.toLowerCase();

const problems = [];
const externalRequests = [];
const consoleErrors = [];
const visited = []; // main-frame navigations, redirects included, in order
const out = { provider, before: null, after: null, visited, externalRequests, requests: 0 };
let browser;
let page;

class Unreachable extends Error {}

function recordExternal(url) {
  if (!isLoopback(url) && !externalRequests.includes(url)) externalRequests.push(url);
}

const row = () => page.locator(`.nexus-connections li.nexus-connection[data-provider="${provider}"]`);

async function screenshot(suffix) {
  if (!screenshotPrefix) return;
  const path = `${screenshotPrefix}-${suffix}.png`;
  await page.screenshot({ path, fullPage: false });
  (out.screenshots ??= []).push(path);
}

async function main() {
  // launch() gives Chromium a fresh temporary --user-data-dir and deletes it on close.
  const launched = await launch();
  browser = launched.browser;
  const context = launched.context;

  await context.route('**/*', async (route) => {
    const url = route.request().url();
    if (isLoopback(url)) {
      await route.continue();
    } else {
      recordExternal(url);
      await route.abort('blockedbyclient');
    }
  });

  page = await context.newPage();
  // 'request' also fires for each hop of a redirect, which the route above never sees.
  page.on('request', (req) => {
    out.requests += 1;
    recordExternal(req.url());
    if (req.isNavigationRequest() && req.frame() === page.mainFrame()) visited.push(req.url());
  });
  page.on('websocket', (ws) => recordExternal(ws.url()));
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
    const error = req.failure()?.errorText ?? 'unknown';
    // Leaving a page aborts what it still had in flight; that is not a failed load.
    if (isLoopback(req.url()) && error !== 'net::ERR_ABORTED') {
      problems.push(`request failed: ${req.method()} ${req.url()} (${error})`);
    }
  });
  page.on('response', (res) => {
    if (res.status() >= 400) {
      problems.push(`HTTP ${res.status()} for ${res.request().method()} ${res.url()}`);
    }
  });

  let nav;
  try {
    nav = await page.goto(pageUrl, { waitUntil: 'load', timeout: 20_000 });
  } catch (err) {
    throw new Unreachable(`GET ${pageUrl}: ${err.message.split('\n')[0]}`);
  }
  if (!nav || !nav.ok()) throw new Unreachable(`GET ${pageUrl} answered ${nav ? nav.status() : 'nothing'}`);

  // Open the panel from GraphiQL's sidebar.
  const show = page.locator('.graphiql-sidebar button[aria-label="Show Connections"]');
  await show.waitFor({ state: 'visible', timeout: 20_000 });
  await show.click();
  await row().waitFor({ state: 'visible', timeout: 10_000 });
  out.before = await row().getAttribute('data-status');
  await screenshot('before');
  if (out.before !== 'NOT_CONNECTED') {
    problems.push(`${provider} is ${out.before} before connecting, expected NOT_CONNECTED`);
    return;
  }

  // Connect: the page asks the gateway for the consent URL and goes there.
  await row().getByRole('button', { name: 'Connect', exact: true }).click();
  try {
    await page.waitForURL((u) => u.origin !== gatewayOrigin, { timeout: 10_000 });
  } catch {
    const error = await row().locator('.nexus-connections-error').textContent().catch(() => null);
    problems.push(`Connect did not leave the playground within 10 s${error ? `: ${error}` : ''}`);
    return;
  }
  out.consentPage = page.url();
  if (!isLoopback(out.consentPage)) {
    problems.push(`the consent page is not on loopback: ${out.consentPage}`);
    return;
  }
  // The refusal is labelled as each provider labels it (Deny, Cancel): the form's deny button.
  const approve = deny
    ? page.locator('button[name="decision"][value="deny"]')
    : page.getByRole('button', { name: 'Approve', exact: true });
  await approve.waitFor({ state: 'visible', timeout: 10_000 });
  const approvedAt = Date.now();
  await approve.click();
  if (deny) {
    await denied();
    return;
  }

  // Back through the gateway's callback to /playground/?connected=<slug>; the page reopens the
  // panel, which loads the list again.
  const connected = row().and(page.locator('[data-status="CONNECTED"]'));
  try {
    await connected.waitFor({ state: 'visible', timeout: CONNECTED_DEADLINE_MS });
  } catch {
    out.after = (await row().getAttribute('data-status', { timeout: 1_000 }).catch(() => null)) ?? null;
    problems.push(
      `the panel did not show ${provider} CONNECTED within ${CONNECTED_DEADLINE_MS / 1000} s ` +
        `(now at ${page.url()}, status ${out.after ?? 'not shown'})`,
    );
    return;
  }
  out.after = 'CONNECTED';
  out.connectedMs = Date.now() - approvedAt;
  out.notice = (await page.locator('.nexus-connections-notice span').first().textContent().catch(() => null)) ?? null;
  out.finalUrl = page.url();
  await screenshot('after');

  const callback = `${gatewayOrigin}/oauth/${slug}/callback`;
  if (!visited.some((u) => u.startsWith(callback))) {
    problems.push(`the browser did not come back through ${callback}`);
  }
  const back = `${gatewayOrigin}/playground/?connected=${slug}`;
  if (!visited.includes(back)) problems.push(`the browser did not come back to ${back}`);
  if (new URL(out.finalUrl).searchParams.has('connected')) {
    problems.push(`?connected= is still in the address bar: ${out.finalUrl}`);
  }
  if (!out.notice || !out.notice.startsWith('Connected')) {
    problems.push(`no "Connected …" notice in the panel (got ${JSON.stringify(out.notice)})`);
  }
}

// After Deny: back on the playground with the callback's error, shown in the reopened panel.
async function denied() {
  const notice = page.locator('.nexus-connections-notice[role="alert"] span');
  try {
    await notice.waitFor({ state: 'visible', timeout: CONNECTED_DEADLINE_MS });
  } catch {
    problems.push(`no error notice in the panel within ${CONNECTED_DEADLINE_MS / 1000} s (now at ${page.url()})`);
    return;
  }
  out.notice = await notice.textContent();
  await row().waitFor({ state: 'visible', timeout: 10_000 });
  out.after = await row().getAttribute('data-status');
  out.finalUrl = page.url();
  const back = `${gatewayOrigin}/playground/?error=access_denied`;
  if (!visited.some((u) => u.startsWith(back) && u.includes(`provider=${slug}`))) {
    problems.push(`the browser did not come back to ${back}…&provider=${slug}`);
  }
  if (new URL(out.finalUrl).search) problems.push(`the callback's parameters are still in the address bar: ${out.finalUrl}`);
  if (out.after !== 'NOT_CONNECTED') problems.push(`${provider} is ${out.after} after Deny`);
}

async function cleanup() {
  try {
    await browser?.close();
  } catch {
    /* ignore */
  }
}

const deadline = setTimeout(async () => {
  console.error(`connect.mjs: did not finish within ${TOTAL_DEADLINE_MS / 1000} s`);
  console.log(JSON.stringify({ ...out, error: 'timeout' }));
  await cleanup();
  process.exit(1);
}, TOTAL_DEADLINE_MS);

let code = 0;
try {
  await main();
} catch (err) {
  if (err instanceof Unreachable) code = 2;
  problems.push(`fatal: ${err?.message ?? err}`);
}
clearTimeout(deadline);
await cleanup();

if (externalRequests.length) problems.push(`requests left loopback: ${externalRequests.join(', ')}`);
out.consoleErrors = consoleErrors;
if (problems.length) {
  for (const p of problems) console.error(`connect.mjs: ${p}`);
  code ||= 1;
} else {
  console.error(`connect.mjs: ok: ${provider} ${out.before} -> ${out.after} in ${out.connectedMs} ms after Approve`);
}
console.log(JSON.stringify(out));
process.exit(code);
