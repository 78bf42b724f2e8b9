// jsforce 3.9.5, unmodified, against the sandbox's Salesforce (the instance URL is the only
// change): describeGlobal, describe, limits, recent, create/update/delete, retrieve (one id, and
// several through sObject Collections' POST), SOQL with relationship paths, a parent-to-child
// subquery, COUNT(), paging with queryMore, queryAll after a delete, and Salesforce's errors.
//
// Usage: node sdk-salesforce.mjs <instanceUrl> <accessToken>
// Prints one JSON line (what each call answered, in brief); exits 1 when a check fails, 2 on a
// fatal error.

import jsforce from 'jsforce';

const [instanceUrl, accessToken] = process.argv.slice(2);
if (!instanceUrl || !accessToken) {
  console.error('usage: node sdk-salesforce.mjs <instanceUrl> <accessToken>');
  process.exit(2);
}

const conn = new jsforce.Connection({ instanceUrl, accessToken, version: '58.0' });
const failures = [];
const report = {};

function check(ok, what, detail) {
  if (!ok) failures.push(detail === undefined ? what : `${what}: ${JSON.stringify(detail)}`);
}

/** The error a call fails with (its errorCode and message), or a failure when it succeeds. */
async function refused(what, call) {
  try {
    const value = await call();
    failures.push(`${what}: expected an error, got ${JSON.stringify(value)}`);
    return {};
  } catch (e) {
    return { errorCode: e.errorCode, message: e.message };
  }
}

async function main() {
  const global = await conn.describeGlobal();
  const names = global.sobjects.map((o) => o.name);
  report.describeGlobal = { count: names.length, maxBatchSize: global.maxBatchSize };
  for (const name of ['Account', 'Contact', 'Lead', 'Opportunity']) {
    check(names.includes(name), `describeGlobal lists ${name}`, names);
  }
  const account = global.sobjects.find((o) => o.name === 'Account');
  check(account?.keyPrefix === '001' && account.queryable && account.createable, 'Account summary', account);
  check(account?.urls?.describe === '/services/data/v58.0/sobjects/Account/describe', 'Account describe url', account?.urls);

  const contactDescribe = await conn.describe('Contact');
  const accountId = contactDescribe.fields.find((f) => f.name === 'AccountId');
  check(accountId?.type === 'reference' && accountId.relationshipName === 'Account', 'Contact.AccountId is the Account lookup', accountId);
  const accountDescribe = await conn.describe('Account');
  const contacts = accountDescribe.childRelationships.find((r) => r.relationshipName === 'Contacts');
  check(contacts?.childSObject === 'Contact' && contacts.field === 'AccountId', 'Account has the Contacts child relationship', accountDescribe.childRelationships);
  report.describe = { contactFields: contactDescribe.fields.length, childRelationships: accountDescribe.childRelationships.length };

  const limits = await conn.limits();
  check(limits.DailyApiRequests?.Max === 100000, 'DailyApiRequests.Max', limits.DailyApiRequests);
  check(limits.DailyApiRequests.Remaining < limits.DailyApiRequests.Max, 'this session has spent calls', limits.DailyApiRequests);
  report.limits = limits.DailyApiRequests;

  const stamp = Date.now();
  const accountName = `SDK Account ${stamp}`;
  const created = await conn.sobject('Account').create({ Name: accountName, Industry: 'Technology' });
  check(created.success === true && /^001/.test(created.id), 'Account create', created);
  const [ada, bob] = await Promise.all(
    ['Ada', 'Bob'].map((last) =>
      conn.sobject('Contact').create({ FirstName: 'SDK', LastName: `${last}${stamp}`, AccountId: created.id, Email: `${last.toLowerCase()}.${stamp}@sdk.example` }),
    ),
  );
  check(ada.success && bob.success, 'Contact creates', [ada, bob]);
  const updated = await conn.sobject('Contact').update({ Id: ada.id, Title: 'Engineer' });
  check(updated.success === true && updated.id === ada.id, 'Contact update', updated);

  const one = await conn.sobject('Contact').retrieve(ada.id);
  check(one.Title === 'Engineer' && one.Name === `SDK Ada${stamp}` && one.attributes.type === 'Contact', 'retrieve one', one);
  // Several ids: jsforce describes the type for its fields, then POSTs composite/sobjects/Contact.
  const many = await conn.sobject('Contact').retrieve([ada.id, '003000000000000AAA', bob.id]);
  check(many.length === 3 && many[1] === null, 'retrieve many: null for an id of no record', many);
  check(many[0]?.Title === 'Engineer' && many[2]?.LastName === `Bob${stamp}`, 'retrieve many: records in order', many);
  const some = await conn.sobject('Contact').retrieve([ada.id, bob.id], { fields: ['Id', 'LastName'] });
  check(some.every((r) => Object.keys(r).sort().join() === 'Id,LastName,attributes'), 'retrieve many with fields', some);
  report.retrieve = { one: one.Id, many: many.map((r) => r?.Id ?? null) };

  const withParent = await conn.query(
    `SELECT Id, LastName, Account.Name, Account.Owner.Email FROM Contact WHERE Account.Name = '${accountName}' ORDER BY LastName`,
  );
  check(withParent.totalSize === 2 && withParent.done === true, 'relationship query size', withParent);
  const first = withParent.records[0];
  check(first?.Account?.Name === accountName && first.Account.attributes.type === 'Account', 'Account.Name nests the parent', first);
  check(/@/.test(first?.Account?.Owner?.Email ?? ''), 'two lookups deep', first?.Account);
  const found = await conn.sobject('Contact').find({ 'Account.Name': accountName }, ['Id', 'Account.Name']);
  check(found.length === 2 && found.every((r) => r.Account.Name === accountName), 'find() builds the relationship query', found);
  report.relationship = { totalSize: withParent.totalSize, first: first?.Account?.Name };

  const parents = await conn.query(
    `SELECT Id, Name, (SELECT Id, LastName FROM Contacts ORDER BY LastName) FROM Account WHERE Id = '${created.id}'`,
  );
  const nested = parents.records[0]?.Contacts;
  check(nested?.totalSize === 2 && nested.done === true && nested.records.length === 2, 'subquery nests the child records', parents.records[0]);
  check(nested?.records[0]?.LastName === `Ada${stamp}` && nested.records[0].attributes.type === 'Contact', 'subquery rows', nested);
  const lonely = await conn.query(
    `SELECT Id, (SELECT Id FROM Contacts) FROM Account WHERE Id = '${created.id}' AND Name = 'nobody'`,
  );
  check(lonely.totalSize === 0 && lonely.records.length === 0, 'no parent, no rows', lonely);
  report.subquery = { totalSize: nested?.totalSize };

  const counted = await conn.query(`SELECT COUNT() FROM Contact WHERE AccountId = '${created.id}'`);
  check(counted.totalSize === 2 && counted.records.length === 0, 'COUNT() answers totalSize, no records', counted);
  const viaCount = await conn.sobject('Contact').count({ AccountId: created.id });
  check(viaCount === 2, 'sobject.count()', viaCount);
  report.count = counted.totalSize;

  // The 600 seeded leads fit one default page of 2,000, so ask for batches of 200 to page.
  const leads = await conn
    .query('SELECT Id FROM Lead')
    .execute({ autoFetch: true, maxFetch: 100000, headers: { 'Sforce-Query-Options': 'batchSize=200' } });
  check(leads.totalSize >= 600 && leads.records.length === leads.totalSize, 'queryMore pages to the end', {
    totalSize: leads.totalSize,
    fetched: leads.records.length,
  });
  report.paging = { totalSize: leads.totalSize, fetched: leads.records.length };

  const gone = await conn.sobject('Contact').destroy(bob.id);
  check(gone.success === true && gone.id === bob.id, 'delete', gone);
  const live = await conn.query(`SELECT Id FROM Contact WHERE AccountId = '${created.id}'`);
  check(live.totalSize === 1, 'query no longer sees the deleted record', live);
  const all = await conn.query(`SELECT Id, IsDeleted FROM Contact WHERE AccountId = '${created.id}' ORDER BY LastName`).scanAll(true);
  check(all.totalSize === 2 && all.records[1]?.Id === bob.id && all.records[1].IsDeleted === true, 'queryAll sees it, IsDeleted', all);
  report.queryAll = { totalSize: all.totalSize, deleted: all.records.filter((r) => r.IsDeleted).length };

  const recent = await conn.sobject('Account').recent();
  check(recent.some((r) => r.Id === created.id), 'recent lists the new account', recent);

  report.errors = {
    unknownField: await refused('unknown field', () => conn.query('SELECT Id, Shoe FROM Contact')),
    unknownRelationship: await refused('unknown relationship', () => conn.query('SELECT Id, Shoe.Name FROM Contact')),
    unknownChild: await refused('unknown child relationship', () => conn.query('SELECT Id, (SELECT Id FROM Shoes) FROM Account')),
    countWithFields: await refused('COUNT() beside fields', () => conn.query('SELECT Id, COUNT() FROM Contact')),
    missingRecord: await refused('missing record', () => conn.sobject('Contact').retrieve('003000000000000AAA')),
    unknownObject: await refused('unknown object', () => conn.describe('Shoe')),
    badRetrieveField: await refused('retrieve with an unknown field', () =>
      conn.sobject('Contact').retrieve([ada.id], { fields: ['Shoe'] }),
    ),
  };
  const codes = Object.fromEntries(Object.entries(report.errors).map(([k, v]) => [k, v.errorCode]));
  const expected = {
    unknownField: 'INVALID_FIELD',
    unknownRelationship: 'INVALID_FIELD',
    unknownChild: 'INVALID_TYPE',
    countWithFields: 'MALFORMED_QUERY',
    missingRecord: 'NOT_FOUND',
    unknownObject: 'NOT_FOUND',
    badRetrieveField: 'INVALID_FIELD',
  };
  check(JSON.stringify(codes) === JSON.stringify(expected), 'error codes', codes);
  check(/^Didn't understand relationship 'Shoe' in field path/.test(report.errors.unknownRelationship.message ?? ''), 'relationship message', report.errors.unknownRelationship);
}

try {
  await main();
} catch (e) {
  console.error(`fatal: ${e.stack || e}`);
  console.log(JSON.stringify({ ...report, fatal: String(e.message || e), errorCode: e.errorCode }));
  process.exit(2);
}
for (const f of failures) console.error(`FAIL ${f}`);
console.log(JSON.stringify({ ...report, failures }));
process.exit(failures.length ? 1 : 0);
