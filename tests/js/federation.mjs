#!/usr/bin/env node
// Nexus as an Apollo Federation v2 subgraph, composed with a second subgraph and served through
// a real gateway.
//
//   node federation.mjs <graphqlUrl> <apiKey> <sandboxOrigin>
//
// 1. Reads Nexus's subgraph SDL with `_service { sdl }` (with `Authorization: Bearer <apiKey>`).
// 2. Starts the `accounts` subgraph (@apollo/subgraph, on a loopback port 0): it extends
//    `Contact` with `accountManager` and has `accountOf(contactIds:)`, an `Account` listing
//    contacts by id only.
// 3. Composes both with @apollo/composition and serves the supergraph with @apollo/gateway
//    behind @apollo/server (loopback, port 0); the gateway forwards the caller's
//    `Authorization` header to both subgraphs.
// 4. Through the gateway: `contacts(first: 100)` with `accountManager` (Nexus first, then the
//    accounts subgraph's `_entities`), then `accountOf` with those ids asking Nexus's fields
//    (the accounts subgraph first, then Nexus's `_entities` with every representation at once),
//    reading the sandbox's counters (`<sandboxOrigin>/_sandbox/counters`) before and after it.
//
// stderr: what failed. stdout: one final JSON line:
//   {"composed":true,"listed":[{id,provider,name,accountManager}],"entities":[{id,provider,
//    name,email,accountManager}],"entityRequests":N,"upstream":{"hubspot":{route:count},..}}
// Exit 0 when every step answered without errors, 1 when one did not, 2 on bad usage.
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { composeServices } from '@apollo/composition';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';

const [url, apiKey, sandbox] = process.argv.slice(2);
if (!url || !apiKey || !sandbox) {
  console.error('usage: node federation.mjs <graphqlUrl> <apiKey> <sandboxOrigin>');
  process.exit(2);
}

const ACCOUNTS_SDL = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])

  type Query {
    "An account holding the contacts of these ids (ids only: the rest is Nexus's)."
    accountOf(contactIds: [ID!]!): Account!
  }

  type Account {
    name: String!
    contacts: [Contact!]!
  }

  type Contact @key(fields: "id") {
    id: ID!
    "Who looks after this contact in the accounts service."
    accountManager: String!
  }
`;

/** The accounts subgraph's own value for a contact: derived from the id it was given. */
const managerOf = (id) => `manager-of:${id}`;

let entityRequests = 0;

const accountsResolvers = {
  Query: {
    accountOf: (_, { contactIds }) => ({
      name: 'Acme',
      contacts: contactIds.map((id) => ({ id })),
    }),
  },
  Contact: {
    __resolveReference: (reference) => {
      entityRequests += 1;
      return { id: reference.id };
    },
    accountManager: (contact) => managerOf(contact.id),
  },
};

async function post(target, body, headers = {}) {
  const response = await fetch(target, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${target} answered ${response.status} with non-JSON: ${text.slice(0, 300)}`);
  }
  return { status: response.status, json };
}

async function counters() {
  const response = await fetch(`${sandbox}/_sandbox/counters`);
  return response.json();
}

/** Successful calls per provider and route between two counter readings. */
function delta(before, after) {
  const out = {};
  for (const provider of ['hubspot', 'salesforce']) {
    out[provider] = {};
    for (const [route, byStatus] of Object.entries(after[provider] ?? {})) {
      if (route.includes('oauth')) continue;
      const was = before[provider]?.[route]?.['200'] ?? 0;
      const diff = (byStatus['200'] ?? 0) - was;
      if (diff > 0) out[provider][route] = diff;
    }
  }
  return out;
}

function fail(message) {
  console.error(message);
  process.exitCode = 1;
}

async function main() {
  const auth = { authorization: `Bearer ${apiKey}` };
  const service = await post(url, { query: '{ _service { sdl } }' }, auth);
  const sdl = service.json?.data?._service?.sdl;
  if (service.status !== 200 || !sdl) {
    throw new Error(`_service answered ${service.status}: ${JSON.stringify(service.json)}`);
  }

  const accounts = new ApolloServer({
    schema: buildSubgraphSchema({ typeDefs: parse(ACCOUNTS_SDL), resolvers: accountsResolvers }),
  });
  const { url: accountsUrl } = await startStandaloneServer(accounts, {
    listen: { host: '127.0.0.1', port: 0 },
  });

  const composed = composeServices([
    { name: 'nexus', typeDefs: parse(sdl), url },
    { name: 'accounts', typeDefs: parse(ACCOUNTS_SDL), url: accountsUrl },
  ]);
  if (composed.errors?.length) {
    for (const error of composed.errors) console.error(`composition: ${error.message}`);
    console.log(JSON.stringify({ composed: false, errors: composed.errors.map((e) => e.message) }));
    process.exitCode = 1;
    await accounts.stop();
    return;
  }

  const gateway = new ApolloGateway({
    supergraphSdl: composed.supergraphSdl,
    buildService: ({ url: serviceUrl }) =>
      new RemoteGraphQLDataSource({
        url: serviceUrl,
        willSendRequest({ request, context }) {
          if (context.authorization) {
            request.http.headers.set('authorization', context.authorization);
          }
        },
      }),
  });
  const server = new ApolloServer({ gateway });
  const { url: gatewayUrl } = await startStandaloneServer(server, {
    listen: { host: '127.0.0.1', port: 0 },
    context: async ({ req }) => ({ authorization: req.headers.authorization }),
  });

  try {
    const listed = await post(
      gatewayUrl,
      { query: '{ contacts(first: 100) { nodes { id provider name accountManager } } }' },
      auth,
    );
    const nodes = listed.json?.data?.contacts?.nodes ?? [];
    if (listed.json?.errors) fail(`contacts: ${JSON.stringify(listed.json.errors)}`);
    for (const node of nodes) {
      if (node.accountManager !== managerOf(node.id)) {
        fail(`contact ${node.id}: accountManager ${node.accountManager}`);
      }
    }

    const ids = nodes.map((n) => n.id);
    const before = await counters();
    const resolved = await post(
      gatewayUrl,
      {
        query: `query($ids: [ID!]!) {
          accountOf(contactIds: $ids) { name contacts { id provider name email accountManager } }
        }`,
        variables: { ids },
      },
      auth,
    );
    const after = await counters();
    if (resolved.json?.errors) fail(`accountOf: ${JSON.stringify(resolved.json.errors)}`);
    const entities = resolved.json?.data?.accountOf?.contacts ?? [];
    console.log(
      JSON.stringify({
        composed: true,
        listed: nodes,
        entities,
        entityRequests,
        upstream: delta(before, after),
      }),
    );
  } finally {
    await server.stop();
    await accounts.stop();
  }
}

main().catch((error) => {
  console.error(`federation.mjs: ${error?.stack ?? error}`);
  process.exit(2);
});
