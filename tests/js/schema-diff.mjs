// The changes from one GraphQL schema to another, as graphql-inspector classifies them.
//
//   node schema-diff.mjs <old.graphql> <new.graphql>
//
// Prints one JSON line: {"changes":[{"type","path","level","message"}]}, `level` being BREAKING,
// DANGEROUS or NON_BREAKING. Exits 0 whatever the changes (the caller judges them against its
// allowlist), 2 when a schema cannot be read or built.
import { readFileSync } from 'node:fs';
import { buildSchema } from 'graphql';
import { diff } from '@graphql-inspector/core';

const [oldPath, newPath] = process.argv.slice(2);
if (!oldPath || !newPath) {
  console.error('usage: node schema-diff.mjs <old.graphql> <new.graphql>');
  process.exit(2);
}

function load(path) {
  try {
    return buildSchema(readFileSync(path, 'utf8'));
  } catch (error) {
    console.error(`${path}: ${error.message}`);
    process.exit(2);
  }
}

const changes = await diff(load(oldPath), load(newPath));
const out = changes.map((change) => ({
  type: change.type,
  path: change.path ?? null,
  level: change.criticality.level,
  message: change.message,
}));
console.log(JSON.stringify({ changes: out }));
