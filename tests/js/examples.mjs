#!/usr/bin/env node
// The playground's example tabs (playground/src/examples.js) against the schema and a gateway.
//
//   node examples.mjs <schema.graphql> [<graphqlUrl> <apiKey>]
//
// Each example must parse and validate against the SDL (graphql-js `validate`). With a gateway,
// each query and mutation is also run over HTTP with `Authorization: Bearer <apiKey>` and must
// answer `data` with no `errors` (subscriptions are validated only: they wait for events).
// stdout, final line:
//   {"examples":[{"name":"Viewer","operation":"query","errors":[],"ran":true},..]}
// Exit 0 when every example passed, 1 otherwise (reasons on stderr), 2 on bad usage.
import { readFileSync } from 'node:fs';
import { buildSchema, getOperationAST, parse, validate } from 'graphql';
import { EXAMPLES } from '../../playground/src/examples.js';

const [schemaPath, url, apiKey] = process.argv.slice(2);
if (!schemaPath || (url && !apiKey)) {
  console.error('usage: node examples.mjs <schema.graphql> [<graphqlUrl> <apiKey>]');
  process.exit(2);
}
const schema = buildSchema(readFileSync(schemaPath, 'utf8'));
const report = [];
for (const source of EXAMPLES) {
  const entry = { name: null, operation: null, errors: [], ran: false };
  report.push(entry);
  let document;
  try {
    document = parse(source);
  } catch (error) {
    entry.errors.push(`does not parse: ${error.message}`);
    continue;
  }
  const operation = getOperationAST(document);
  entry.name = operation?.name?.value ?? null;
  entry.operation = operation?.operation ?? null;
  entry.errors.push(...validate(schema, document).map((e) => e.message));
  if (!url || entry.errors.length || entry.operation === 'subscription') continue;
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({ query: source }),
  });
  const body = await response.json().catch(() => null);
  entry.ran = true;
  if (!body?.data) entry.errors.push(`HTTP ${response.status}: no data`);
  for (const error of body?.errors ?? []) {
    entry.errors.push(`${error.extensions?.code ?? ''} ${error.message} at ${JSON.stringify(error.path ?? [])}`);
  }
}
const failed = report.filter((e) => e.errors.length);
for (const e of failed) console.error(`examples.mjs: ${e.name ?? '(unnamed)'}: ${e.errors.join('; ')}`);
console.log(JSON.stringify({ examples: report }));
process.exit(failed.length ? 1 : 0);
