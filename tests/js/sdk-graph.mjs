// Drives Microsoft's official Graph SDK (@microsoft/microsoft-graph-client, unmodified: only
// `baseUrl` and `customHosts` point at the sandbox) over the Outlook and Teams calls the gateway
// makes, and prints what it saw as one JSON line for tests/it/sdk_chat.rs to check.
//
// The SDK attaches the token only to https URLs of Graph's hosts or of `customHosts`, and
// PageIterator follows an `@odata.nextLink` only when it starts with https://. So the script
// puts a TLS front on loopback before the plain-HTTP sandbox (certificate in fixtures/, trusted
// through NODE_EXTRA_CA_CERTS) and rewrites the sandbox's origin in answers to the front's.
//
// Usage: NODE_EXTRA_CA_CERTS=fixtures/loopback-tls.pem node sdk-graph.mjs <sandbox origin> <token>
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { Client, GraphError, PageIterator } from '@microsoft/microsoft-graph-client';

const [sandbox, token] = process.argv.slice(2);
const fixtures = new URL('./fixtures/', import.meta.url);

/** An HTTPS front for the sandbox on a loopback port; resolves to its origin. */
function front() {
  const upstream = new URL(sandbox);
  let origin = '';
  const server = https.createServer(
    { key: readFileSync(new URL('loopback-tls.key', fixtures)), cert: readFileSync(new URL('loopback-tls.pem', fixtures)) },
    (req, res) => {
      const forward = http.request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
        (answer) => {
          const chunks = [];
          answer.on('data', (c) => chunks.push(c));
          answer.on('end', () => {
            const body = Buffer.from(Buffer.concat(chunks).toString('utf8').replaceAll(sandbox, origin));
            const headers = { ...answer.headers, 'content-length': body.length };
            delete headers['transfer-encoding'];
            res.writeHead(answer.statusCode, headers);
            res.end(body);
          });
        },
      );
      req.pipe(forward);
    },
  );
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      origin = `https://127.0.0.1:${server.address().port}`;
      server.unref();
      resolve(origin);
    });
  });
}

const origin = await front();
const client = Client.init({
  authProvider: (done) => done(null, token),
  baseUrl: `${origin}/microsoft`,
  defaultVersion: 'v1.0',
  customHosts: new Set(['127.0.0.1']),
});

/** The GraphError of a call expected to fail. */
async function failure(call) {
  try {
    return { unexpected: await call };
  } catch (e) {
    return {
      graphError: e instanceof GraphError,
      statusCode: e.statusCode,
      code: e.code,
      message: e.message,
      requestId: e.requestId ?? null,
    };
  }
}

/** Every item of a list, following `@odata.nextLink` with the SDK's PageIterator. */
async function iterate(first) {
  const items = [];
  let pages = 1;
  const iterator = new PageIterator(client, first, (item) => {
    items.push(item);
    return true;
  });
  // Counted before each fetch of a further page.
  const fetchNext = iterator.fetchAndUpdateNextPageData.bind(iterator);
  iterator.fetchAndUpdateNextPageData = async () => {
    pages += 1;
    return fetchNext();
  };
  await iterator.iterate();
  return { items, pages };
}

const report = {};

// Mail: the filter + orderby shape Graph takes (the sorted property opens $filter) …
const unread = await client
  .api('/me/messages')
  .filter('receivedDateTime ge 1900-01-01T00:00:00Z and isRead eq false')
  .orderby('receivedDateTime desc')
  .select(['subject', 'isRead', 'receivedDateTime'])
  .top(10)
  .get();
const received = unread.value.map((m) => m.receivedDateTime);
report.mail = {
  count: unread.value.length,
  allUnread: unread.value.every((m) => m.isRead === false),
  newestFirst: received.every((t, i) => i === 0 || received[i - 1] >= t),
  selected: Object.keys(unread.value[0]).sort(),
  nextLink: typeof unread['@odata.nextLink'] === 'string',
};
// … and the shape it refuses.
report.inefficientFilter = await failure(
  client.api('/me/messages').filter('isRead eq false').orderby('receivedDateTime desc').get(),
);

const events = await client.api('/me/events').select('subject,start,end').top(5).get();
report.events = { count: events.value.length, withStart: events.value.every((e) => e.start?.dateTime) };

// Teams: a team, one channel, its members and its messages.
const teams = await client.api('/me/joinedTeams').get();
const team = teams.value[0];
const channels = await client.api(`/teams/${team.id}/channels`).get();
const listed = channels.value[0];
const channel = await client.api(`/teams/${team.id}/channels/${encodeURIComponent(listed.id)}`).get();
const selected = await client
  .api(`/teams/${team.id}/channels/${encodeURIComponent(listed.id)}`)
  .select('displayName')
  .get();
report.channel = {
  id: channel.id,
  sameAsListed: channel.id === listed.id && channel.displayName === listed.displayName,
  membershipType: channel.membershipType,
  selected: Object.keys(selected).filter((k) => !k.startsWith('@')).sort(),
};
report.channelNotFound = await failure(
  client.api(`/teams/${team.id}/channels/${encodeURIComponent('19:0000@thread.tacv2')}`).get(),
);
report.teamNotFound = await failure(client.api('/teams/00000000-0000-0000-0000-000000000000/members').get());

const firstMembers = await client.api(`/teams/${team.id}/members`).top(100).get();
const members = await iterate(firstMembers);
const ids = members.items.map((m) => m.id);
const someone = members.items[5];
const byUser = await client
  .api(`/teams/${team.id}/members`)
  .filter(`(microsoft.graph.aadUserConversationMember/userId eq '${someone.userId}')`)
  .get();
report.members = {
  count: ids.length,
  unique: new Set(ids).size,
  pages: members.pages,
  shape: members.items.every(
    (m) =>
      m['@odata.type'] === '#microsoft.graph.aadUserConversationMember' &&
      Array.isArray(m.roles) &&
      typeof m.userId === 'string' &&
      typeof m.email === 'string' &&
      typeof m.displayName === 'string',
  ),
  owners: members.items.filter((m) => m.roles.includes('owner')).length,
  filtered: byUser.value.map((m) => m.userId),
  wanted: someone.userId,
};
report.membersTopTooLarge = await failure(client.api(`/teams/${team.id}/members`).top(1000).get());

const firstMessages = await client
  .api(`/teams/${team.id}/channels/${encodeURIComponent(channel.id)}/messages`)
  .top(10)
  .get();
const messages = await iterate(firstMessages);
report.channelMessages = {
  count: messages.items.length,
  unique: new Set(messages.items.map((m) => m.id)).size,
  pages: messages.pages,
};

console.log(JSON.stringify(report));
