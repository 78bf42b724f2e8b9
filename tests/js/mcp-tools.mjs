#!/usr/bin/env node
// Every MCP tool of the gateway called once through the official TypeScript SDK client
// (Streamable HTTP), with a key that may write, against a gateway whose user has HubSpot, Gmail,
// Outlook, Google Calendar and Slack connected.
//
//   node mcp-tools.mjs <mcpUrl> <writeKey>
//
// stdout: one final JSON line, a field per tool: {"<tool>":{"isError","text"?,"result"}}, where
// `result` is the tool's structured result. Exit 0 when the script ran to the end, 2 on bad
// usage or a fatal error (a tool error is reported, not fatal).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const [url, key] = process.argv.slice(2);
if (!url || !key) {
  console.error('usage: node mcp-tools.mjs <mcpUrl> <writeKey>');
  process.exit(2);
}

async function main() {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${key}` } },
  });
  const client = new Client({ name: 'nexus-mcp-tools-test', version: '1.0.0' });
  await client.connect(transport);
  const out = {};
  const call = async (name, args) => {
    const answer = await client.callTool({ name, arguments: args });
    const text = (answer.content ?? []).map((c) => c.text ?? '').join('\n');
    out[name] = { isError: answer.isError ?? false, result: answer.structuredContent ?? null };
    if (answer.isError) out[name].text = text;
    return answer.structuredContent ?? {};
  };
  const stamp = Date.now();

  await call('list_connections', {});
  const contacts = await call('search_contacts', { limit: 3, providers: ['HUBSPOT'] });
  await call('search_leads', { limit: 2 });
  const deals = await call('search_deals', { limit: 2 });
  await call('search_companies', { limit: 2 });
  await call('get_record', { id: deals.items?.[0]?.id ?? 'none' });
  await call('list_emails', { limit: 3 });
  await call('list_events', { limit: 3 });
  // One channel: an unfiltered Slack read walks every channel's history (issue 21).
  await call('list_messages', { limit: 3, providers: ['SLACK'], channel: 'C0SBX0000' });
  const contact = contacts.items?.[0]?.id ?? 'none';
  await call('contact_timeline', { contactId: contact, perKind: 2 });
  await call('update_record', {
    id: contact, fields: { firstName: 'Renamed' }, idempotencyKey: `mcp-update-${stamp}`,
  });
  await call('send_email', {
    provider: 'GMAIL', to: ['grace@navy.example'], subject: 'From an agent',
    text: 'Sent through the MCP tool.', idempotencyKey: `mcp-send-${stamp}`,
  });
  const start = new Date(Date.now() + 86_400_000);
  await call('create_event', {
    provider: 'GOOGLE_CALENDAR', title: 'Agent sync', start: start.toISOString(),
    end: new Date(start.getTime() + 1_800_000).toISOString(), idempotencyKey: `mcp-event-${stamp}`,
  });
  await call('graphql', { query: '{ channels(first: 1, providers: [SLACK]) { nodes { name } } }' });
  // The sandbox workspace's first channel, which the bot is in.
  await call('post_message', {
    provider: 'SLACK', channelId: 'C0SBX0000',
    text: 'Posted by an agent', idempotencyKey: `mcp-post-${stamp}`,
  });
  // Bad input from the agent: a tool error naming it, never a crash.
  const refusals = {};
  for (const [name, args] of [
    ['search_contacts', { limit: 2, cursor: 'not-a-cursor' }],
    ['get_record', { id: 'not-an-id' }],
    ['search_contacts', { limit: -5 }],
    ['create_record', { type: 'spaceship', provider: 'HUBSPOT', fields: {}, idempotencyKey: `bad-${stamp}` }],
  ]) {
    try {
      const answer = await client.callTool({ name, arguments: args });
      refusals[`${name} ${JSON.stringify(args)}`] = {
        isError: answer.isError ?? false,
        text: (answer.content ?? []).map((c) => c.text ?? '').join('\n'),
      };
    } catch (e) {
      refusals[`${name} ${JSON.stringify(args)}`] = { isError: true, text: String(e?.message ?? e) };
    }
  }
  await client.close();
  console.log(JSON.stringify({ ...out, refusals }));
}

main().catch((e) => {
  console.error(e?.stack ?? String(e));
  process.exit(2);
});
