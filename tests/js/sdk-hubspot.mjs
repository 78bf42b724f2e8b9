// @hubspot/api-client 13.5.0, unmodified, against the sandbox's HubSpot (basePath is the only
// change): the properties API, and for contacts, companies and deals the basic API (getPage with
// its paging cursor, getById, create, update, archive), searchApi.doSearch and batchApi.read,
// with HubSpot's errors as the SDK surfaces them (ApiException with `code` and the error body).
//
// Usage: node sdk-hubspot.mjs <basePath> <accessToken>
// Prints one JSON line (what each call answered, in brief); exits 1 when a check fails, 2 on a
// fatal error.

import { Client } from '@hubspot/api-client';

const [basePath, accessToken] = process.argv.slice(2);
if (!basePath || !accessToken) {
  console.error('usage: node sdk-hubspot.mjs <basePath> <accessToken>');
  process.exit(2);
}

const hubspot = new Client({ accessToken, basePath });
const failures = [];
const report = {};

function check(ok, what, detail) {
  if (!ok) failures.push(detail === undefined ? what : `${what}: ${JSON.stringify(detail)}`);
}

/** The ApiException a call fails with (status and error body), or a failure when it succeeds. */
async function refused(what, call) {
  try {
    const value = await call();
    failures.push(`${what}: expected an error, got ${JSON.stringify(value)}`);
    return {};
  } catch (e) {
    return { code: e.code, category: e.body?.category, message: e.body?.message };
  }
}

/** Per object: the API, a new record's properties, the property to search it by and to change. */
const stamp = Date.now();
const objects = {
  contacts: {
    api: hubspot.crm.contacts,
    create: { email: `sdk.${stamp}@sdk.example`, firstname: 'Sdk', lastname: `Contact${stamp}` },
    key: 'email',
    change: { firstname: 'Changed' },
  },
  companies: {
    api: hubspot.crm.companies,
    create: { name: `SDK Company ${stamp}`, domain: `sdk${stamp}.example` },
    key: 'name',
    change: { domain: `changed${stamp}.example` },
  },
  deals: {
    api: hubspot.crm.deals,
    create: { dealname: `SDK Deal ${stamp}`, amount: '1500', dealstage: 'appointmentscheduled', pipeline: 'default' },
    key: 'dealname',
    change: { amount: '2500' },
  },
};

async function properties() {
  const all = await hubspot.crm.properties.coreApi.getAll('contacts');
  const email = all.results.find((p) => p.name === 'email');
  check(email?.type === 'string' && email.fieldType === 'text' && email.hubspotDefined === true, 'contacts email property', email);
  check(email?.modificationMetadata?.readOnlyValue === false && Array.isArray(email.options), 'email modificationMetadata and options', email);
  check(email?.createdAt instanceof Date && !Number.isNaN(email.createdAt.getTime()), 'createdAt is a date', email?.createdAt);
  const tier = all.results.find((p) => p.name === 'customer_tier');
  check(tier?.type === 'enumeration' && tier.options.length === 3 && tier.hubspotDefined === undefined, 'custom enumeration property', tier);
  const archived = await hubspot.crm.properties.coreApi.getAll('contacts', true);
  check(archived.results.length === 0, 'no archived properties', archived.results.map((p) => p.name));
  const one = await hubspot.crm.properties.coreApi.getByName('deals', 'dealname');
  check(one.name === 'dealname' && one.label.length > 0, 'getByName', one);
  report.properties = { contacts: all.results.length, dealname: one.label };
  report.propertyErrors = {
    unknown: await refused('unknown property', () => hubspot.crm.properties.coreApi.getByName('contacts', 'no_such_property')),
  };
  check(report.propertyErrors.unknown.code === 404 && report.propertyErrors.unknown.category === 'OBJECT_NOT_FOUND', 'unknown property is 404', report.propertyErrors);
}

async function object(name, { api, create, key, change }) {
  const out = {};
  const first = await api.basicApi.getPage(5, undefined, [key]);
  check(first.results.length === 5 && first.paging?.next?.after, `${name} getPage`, first.paging);
  const second = await api.basicApi.getPage(5, first.paging.next.after, [key]);
  check(second.results.length === 5 && second.results[0].id !== first.results[0].id, `${name} second page`, second.results.map((r) => r.id));
  check(first.results[0].createdAt instanceof Date && first.results[0].archived === false, `${name} record shape`, first.results[0]);
  out.pages = [first.results.length, second.results.length];

  const created = await api.basicApi.create({ properties: create, associations: [] });
  check(/^\d+$/.test(created.id) && created.properties[key] === create[key], `${name} create`, created);
  const read = await api.basicApi.getById(created.id, Object.keys(create));
  for (const [k, v] of Object.entries(create)) check(read.properties[k] === v, `${name} getById ${k}`, read.properties);
  const updated = await api.basicApi.update(created.id, { properties: change });
  for (const [k, v] of Object.entries(change)) check(updated.properties[k] === v, `${name} update ${k}`, updated.properties);

  const searched = await api.searchApi.doSearch({
    filterGroups: [{ filters: [{ propertyName: key, operator: 'EQ', value: create[key] }] }],
    sorts: [{ propertyName: key, direction: 'DESCENDING' }],
    properties: [key, ...Object.keys(change)],
    limit: 10,
    after: '0',
  });
  check(searched.total === 1 && searched.results[0]?.id === created.id, `${name} search`, searched);
  for (const [k, v] of Object.entries(change)) check(searched.results[0]?.properties[k] === v, `${name} search sees the update`, searched.results[0]);

  const batch = await api.batchApi.read({ inputs: [{ id: created.id }, { id: first.results[0].id }], properties: [key], propertiesWithHistory: [] });
  check(batch.status === 'COMPLETE' && batch.results.length === 2, `${name} batch read`, batch);
  check(batch.results.some((r) => r.id === created.id && r.properties[key] === create[key]), `${name} batch read values`, batch.results);
  const partial = await api.batchApi.read({ inputs: [{ id: created.id }, { id: '999999999' }], properties: [key], propertiesWithHistory: [] });
  check(partial.results.length === 1 && partial.errors?.[0]?.category === 'OBJECT_NOT_FOUND', `${name} batch read with a missing id`, partial);

  await api.basicApi.archive(created.id);
  const gone = await refused(`${name} getById after archive`, () => api.basicApi.getById(created.id));
  check(gone.code === 404 && gone.category === 'OBJECT_NOT_FOUND' && gone.message, `${name} archived record is 404 with HubSpot's body`, gone);
  const bad = await refused(`${name} unknown property`, () => api.basicApi.create({ properties: { no_such_property: 'x' }, associations: [] }));
  check(bad.code === 400 && bad.category === 'VALIDATION_ERROR', `${name} unknown property is refused`, bad);
  out.created = created.id;
  out.search = searched.total;
  out.batch = batch.results.length;
  return out;
}

async function main() {
  await properties();
  for (const [name, spec] of Object.entries(objects)) report[name] = await object(name, spec);
}

try {
  await main();
} catch (e) {
  console.error(`fatal: ${e.stack || e}`);
  console.log(JSON.stringify({ ...report, fatal: String(e.message || e) }));
  process.exit(2);
}
for (const f of failures) console.error(`FAIL ${f}`);
console.log(JSON.stringify({ ...report, failures }));
process.exit(failures.length ? 1 : 0);
