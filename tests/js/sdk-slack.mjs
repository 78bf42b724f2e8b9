// Drives Slack's official Node SDK (@slack/web-api, unmodified: only `slackApiUrl` points at the
// sandbox) over the Web API methods the gateway's chat features use, and prints what it saw as
// one JSON line for tests/it/sdk_chat.rs to check.
//
// Usage: node sdk-slack.mjs <slackApiUrl> <bot token>
import { WebClient } from '@slack/web-api';

const [slackApiUrl, token] = process.argv.slice(2);
// Rate limits are reported, not waited out, so the 429 case ends at once.
const client = new WebClient(token, {
  slackApiUrl,
  rejectRateLimitedCalls: true,
  retryConfig: { retries: 0 },
});

/** The SDK's error for a call expected to fail: its `code`, Slack's `error` and `retryAfter`. */
async function failure(call) {
  try {
    const result = await call;
    return { unexpected: result };
  } catch (e) {
    return { code: e.code, error: e.data?.error, retryAfter: e.retryAfter };
  }
}

async function all(method, options, field) {
  const items = [];
  let pages = 0;
  for await (const page of client.paginate(method, options)) {
    pages += 1;
    items.push(...page[field]);
  }
  return { items, pages };
}

const report = {};
const general = 'C0SBX0000';

const channels = await all('conversations.list', { limit: 50, exclude_archived: true }, 'channels');
report.channels = {
  count: channels.items.length,
  unique: new Set(channels.items.map((c) => c.id)).size,
  pages: channels.pages,
  archived: channels.items.filter((c) => c.is_archived).length,
};

const history = await all('conversations.history', { channel: general, limit: 100 }, 'messages');
const stamps = history.items.map((m) => m.ts);
report.history = {
  count: stamps.length,
  unique: new Set(stamps).size,
  pages: history.pages,
  newestFirst: stamps.every((ts, i) => i === 0 || Number(stamps[i - 1]) > Number(ts)),
};

const parent = history.items.find((m) => m.reply_count > 2);
const replies = await all('conversations.replies', { channel: general, ts: parent.ts, limit: 2 }, 'messages');
report.replies = {
  replyCount: parent.reply_count,
  count: replies.items.length,
  pages: replies.pages,
  parentFirst: replies.items[0].ts === parent.ts,
};

const members = await all('conversations.members', { channel: general, limit: 100 }, 'members');
report.members = {
  count: members.items.length,
  unique: new Set(members.items).size,
  pages: members.pages,
  bot: members.items.includes('U0SBXBOT1'),
};

const posted = await client.chat.postMessage({ channel: general, text: 'posted by @slack/web-api' });
const updated = await client.chat.update({ channel: posted.channel, ts: posted.ts, text: 'edited by @slack/web-api' });
await client.reactions.add({ channel: posted.channel, timestamp: posted.ts, name: 'thumbsup' });
const again = await failure(client.reactions.add({ channel: posted.channel, timestamp: posted.ts, name: 'thumbsup' }));
const seen = await client.conversations.history({ channel: general, latest: posted.ts, inclusive: true, limit: 1 });
const deleted = await client.chat.delete({ channel: posted.channel, ts: posted.ts });
const afterDelete = await failure(client.chat.update({ channel: posted.channel, ts: posted.ts, text: 'too late' }));
report.writes = {
  posted: { ok: posted.ok, channel: posted.channel, ts: posted.ts },
  updated: { ok: updated.ok, ts: updated.ts, text: updated.text, edited: updated.message?.edited?.user ?? null },
  seen: {
    ts: seen.messages[0].ts,
    text: seen.messages[0].text,
    reactions: seen.messages[0].reactions,
  },
  alreadyReacted: again,
  deleted: { ok: deleted.ok, ts: deleted.ts },
  afterDelete,
};

const someonesMessage = history.items.find((m) => m.user !== 'U0SBXBOT1' && !m.subtype);
report.errors = {
  channelNotFound: await failure(client.conversations.members({ channel: 'C0NOPE000' })),
  invalidCursor: await failure(client.conversations.list({ cursor: 'bm90LWEtY3Vyc29y' })),
  invalidName: await failure(client.reactions.add({ channel: general, timestamp: someonesMessage.ts, name: 'not_an_emoji' })),
  cantUpdate: await failure(client.chat.update({ channel: general, ts: someonesMessage.ts, text: 'not mine' })),
  // C0SBX0011 is public, not archived, and the bot is not in it.
  notInChannel: await failure(client.reactions.add({ channel: 'C0SBX0011', timestamp: someonesMessage.ts, name: 'eyes' })),
  unknownMethod: await failure(client.apiCall('chat.fly', {})),
};

// conversations.list is Tier 2 (20 a minute): the SDK reports the 429 with Slack's Retry-After.
let limited = null;
for (let i = 0; i < 30 && limited === null; i += 1) {
  const outcome = await failure(client.conversations.list({ limit: 1 }));
  if (outcome.code) limited = { ...outcome, after: i };
}
report.rateLimited = limited;

console.log(JSON.stringify(report));
