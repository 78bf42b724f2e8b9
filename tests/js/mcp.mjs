#!/usr/bin/env node
// The gateway's MCP server through the official TypeScript SDK client (Streamable HTTP).
//
//   node mcp.mjs <mcpUrl> <writeKey> <readKey>
//
// <writeKey> has the read and write scopes, <readKey> read only. The gateway's
// mcp.max_result_bytes is expected small enough that 50 contacts do not fit in one result.
// stdout: one final JSON line with what was seen:
//   {"unauthorized":{"status","wwwAuthenticate","sdkRefused"},"protocolVersion","tools":[...],
//    "firstPage":{"count","nextCursor","bytes"},"secondPage":{"count","overlap"},
//    "created":{...},"fetched":{...},"readOnlyWrite":{"isError","text"},
//    "graphqlQuery":{...},"graphqlMutation":{"isError","text"}}
// Exit 0 when the script ran to the end, 2 on bad usage or a fatal error.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const [url, writeKey, readKey] = process.argv.slice(2);
if (!url || !writeKey || !readKey) {
  console.error('usage: node mcp.mjs <mcpUrl> <writeKey> <readKey>');
  process.exit(2);
}

async function connect(key) {
  const headers = key ? { Authorization: `Bearer ${key}` } : {};
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  const client = new Client({ name: 'nexus-mcp-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport };
}

function text(result) {
  return (result.content ?? []).map((c) => c.text ?? '').join('\n');
}

async function main() {
  const out = {};

  // No key: refused at the HTTP layer, before initialize.
  const raw = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({
      jsonrpc: '2.0', id: 1, method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
    }),
  });
  let sdkRefused = false;
  let sdkError = null;
  try {
    await connect(null);
  } catch (e) {
    sdkRefused = true;
    sdkError = String(e?.message ?? e);
  }
  out.unauthorized = { status: raw.status, wwwAuthenticate: raw.headers.get('www-authenticate'), sdkRefused, sdkError };

  const { client, transport } = await connect(writeKey);
  out.protocolVersion = transport.protocolVersion ?? null;
  out.tools = (await client.listTools()).tools.map((t) => t.name);

  // A read tool whose result is capped: what fits, and a cursor to continue.
  const first = await client.callTool({ name: 'search_contacts', arguments: { limit: 50 } });
  if (first.isError) throw new Error(`search_contacts: ${text(first)}`);
  const page1 = first.structuredContent;
  out.firstPage = { count: page1.items.length, nextCursor: page1.nextCursor ?? null, bytes: JSON.stringify(page1).length };
  const second = await client.callTool({ name: 'search_contacts', arguments: { limit: 50, cursor: page1.nextCursor } });
  if (second.isError) throw new Error(`search_contacts (cursor): ${text(second)}`);
  const ids = new Set(page1.items.map((i) => i.id));
  const page2 = second.structuredContent;
  out.secondPage = { count: page2.items.length, overlap: page2.items.filter((i) => ids.has(i.id)).length };

  // A write tool, then reading what it made.
  const idempotencyKey = `mcp-test-${Date.now()}`;
  const created = await client.callTool({
    name: 'create_record',
    arguments: {
      type: 'contact', provider: 'HUBSPOT', idempotencyKey,
      fields: { firstName: 'Mona', lastName: 'Agent', email: 'mona.agent@example.test' },
    },
  });
  if (created.isError) throw new Error(`create_record: ${text(created)}`);
  out.created = created.structuredContent;
  const fetched = await client.callTool({ name: 'get_record', arguments: { id: created.structuredContent.id } });
  out.fetched = fetched.isError ? { error: text(fetched) } : fetched.structuredContent;

  // The graphql tool: queries run, mutations are refused.
  const query = await client.callTool({ name: 'graphql', arguments: { query: '{ viewer { user { email } } }' } });
  out.graphqlQuery = query.isError ? { error: text(query) } : query.structuredContent;
  const mutation = await client.callTool({
    name: 'graphql',
    arguments: { query: 'mutation { disconnectProvider(provider: HUBSPOT) }' },
  });
  out.graphqlMutation = { isError: mutation.isError ?? false, text: text(mutation) };
  await client.close();

  // A read-only key on a write tool: a tool error with FORBIDDEN.
  const reader = await connect(readKey);
  const refused = await reader.client.callTool({
    name: 'create_record',
    arguments: { type: 'contact', provider: 'HUBSPOT', idempotencyKey: `${idempotencyKey}-r`, fields: { lastName: 'No' } },
  });
  out.readOnlyWrite = { isError: refused.isError ?? false, text: text(refused) };
  await reader.client.close();

  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e?.stack ?? String(e));
  process.exit(2);
});
