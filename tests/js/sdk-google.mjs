// Drives the sandbox's Gmail v1 and Calendar v3 with the official Node client, googleapis
// 178.0.0, unmodified but for `rootUrl` and an OAuth2 client holding the sandbox's access token.
// Prints one JSON report line for tests/it/sdk_google.rs to check.
//
// usage: node sdk-google.mjs <sandbox origin> <access token>
//
// The client resolves an API's `rootUrl` against absolute paths (`/gmail/v1/…`), so the sandbox
// serves Google's host paths at its root. Media uploads ignore the API-level `rootUrl` (the
// upload URL is built from the per-call options only), so send() with `media` names it per call.

import { google } from 'googleapis';

const [origin, token] = process.argv.slice(2);
if (!origin || !token) {
  console.error('usage: node sdk-google.mjs <sandbox origin> <access token>');
  process.exit(2);
}
const rootUrl = `${origin}/`;
const auth = new google.auth.OAuth2();
auth.setCredentials({ access_token: token, expiry_date: Date.now() + 3_000_000 });
// No retries: a refusal must surface as the sandbox answered it.
const retry = { retry: false };
const gmail = google.gmail({ version: 'v1', auth, rootUrl, ...retry });
const calendar = google.calendar({ version: 'v3', auth, rootUrl, ...retry });

/** What a refused call carried: status, Google's reason and message. */
async function refusal(call) {
  try {
    await call();
    return { status: 200 };
  } catch (e) {
    const body = e.response?.data?.error ?? {};
    return {
      status: e.status ?? e.response?.status ?? null,
      reason: body.errors?.[0]?.reason ?? null,
      message: body.message ?? String(e.message),
    };
  }
}

const stamp = Date.now().toString(36);
const message = (subject) =>
  [
    'From: sandbox.user@nexus.example',
    'To: colleague@nexus.example',
    `Subject: ${subject}`,
    'Content-Type: text/plain; charset=utf-8',
    '',
    `Sent by googleapis ${stamp}.`,
    '',
  ].join('\r\n');

const report = {};

// Gmail: list, get, send three ways, modify, batchModify.
const list = await gmail.users.messages.list({ userId: 'me', maxResults: 5, labelIds: ['INBOX'] });
report.list = {
  count: list.data.messages?.length ?? 0,
  estimate: list.data.resultSizeEstimate,
  nextPageToken: typeof list.data.nextPageToken === 'string',
};
const first = list.data.messages[0];
const got = await gmail.users.messages.get({
  userId: 'me',
  id: first.id,
  format: 'metadata',
  metadataHeaders: ['Subject', 'From'],
});
report.get = {
  id: got.data.id,
  sameThread: got.data.threadId === first.threadId,
  headers: (got.data.payload?.headers ?? []).map((h) => h.name).sort(),
};

const raw = Buffer.from(message(`SDK raw ${stamp}`)).toString('base64url');
const sentRaw = await gmail.users.messages.send({ userId: 'me', requestBody: { raw } });
const multipart = await gmail.users.messages.send(
  {
    userId: 'me',
    requestBody: { threadId: sentRaw.data.threadId },
    media: { mimeType: 'message/rfc822', body: message(`SDK multipart ${stamp}`) },
  },
  { rootUrl },
);
const simple = await gmail.users.messages.send(
  { userId: 'me', media: { mimeType: 'message/rfc822', body: message(`SDK media ${stamp}`) } },
  { rootUrl },
);
report.send = {
  raw: sentRaw.data.labelIds,
  multipartThread: multipart.data.threadId === sentRaw.data.threadId,
  media: simple.data.labelIds,
  ids: [sentRaw.data.id, multipart.data.id, simple.data.id].every((id) => typeof id === 'string'),
};
const sentCopy = await gmail.users.messages.get({ userId: 'me', id: multipart.data.id, format: 'full' });
report.send.multipartSubject = sentCopy.data.payload.headers.find((h) => h.name === 'Subject')?.value;
report.send.wrongMedia = await refusal(() =>
  gmail.users.messages.send(
    { userId: 'me', media: { mimeType: 'text/plain', body: 'not a message' } },
    { rootUrl },
  ),
);

const modified = await gmail.users.messages.modify({
  userId: 'me',
  id: first.id,
  requestBody: { addLabelIds: ['STARRED'], removeLabelIds: ['UNREAD'] },
});
report.modify = { labelIds: modified.data.labelIds };
const batch = await gmail.users.messages.batchModify({
  userId: 'me',
  requestBody: { ids: [first.id, sentRaw.data.id], addLabelIds: ['IMPORTANT'] },
});
const after = await gmail.users.messages.get({ userId: 'me', id: sentRaw.data.id, format: 'minimal' });
report.batchModify = { status: batch.status, important: after.data.labelIds.includes('IMPORTANT') };

// Calendar: list, insert a weekly series, its instances, free/busy, patch, delete.
const calendars = await calendar.calendarList.list();
report.calendarList = { primary: calendars.data.items.some((c) => c.primary) };
const inserted = await calendar.events.insert({
  calendarId: 'primary',
  requestBody: {
    summary: `SDK weekly ${stamp}`,
    start: { dateTime: '2027-03-01T10:00:00Z' },
    end: { dateTime: '2027-03-01T10:30:00Z' },
    recurrence: ['RRULE:FREQ=WEEKLY;COUNT=4'],
  },
});
const instances = await calendar.events.instances({ calendarId: 'primary', eventId: inserted.data.id });
report.instances = {
  kind: instances.data.kind,
  count: instances.data.items.length,
  recurringEventId: instances.data.items.every((i) => i.recurringEventId === inserted.data.id),
  starts: instances.data.items.map((i) => i.start.dateTime),
};
const bounded = await calendar.events.instances({
  calendarId: 'primary',
  eventId: inserted.data.id,
  timeMin: '2027-03-08T00:00:00Z',
  timeMax: '2027-03-20T00:00:00Z',
});
report.instances.bounded = bounded.data.items.length;
report.instances.unknown = await refusal(() =>
  calendar.events.instances({ calendarId: 'primary', eventId: 'nosuchevent0000' }),
);
const listed = await calendar.events.list({
  calendarId: 'primary',
  timeMin: '2027-03-01T00:00:00Z',
  timeMax: '2027-03-30T00:00:00Z',
  singleEvents: true,
  orderBy: 'startTime',
  q: `SDK weekly ${stamp}`,
});
report.eventsList = { count: listed.data.items.length };

const busy = await calendar.freebusy.query({
  requestBody: {
    timeMin: '2027-03-01T09:00:00Z',
    timeMax: '2027-03-09T00:00:00Z',
    items: [{ id: 'primary' }, { id: 'nobody@elsewhere.example' }],
  },
});
report.freeBusy = {
  kind: busy.data.kind,
  // The series' first two meetings are busy (seeded events may widen an interval, never narrow it).
  primary: ['2027-03-01', '2027-03-08'].filter((day) =>
    busy.data.calendars.primary.busy.some(
      (b) => b.start <= `${day}T10:00:00.000Z` && b.end >= `${day}T10:30:00.000Z`,
    ),
  ).length,
  unknown: busy.data.calendars['nobody@elsewhere.example'],
};
report.freeBusy.emptyRange = await refusal(() =>
  calendar.freebusy.query({
    requestBody: { timeMin: '2027-03-02T00:00:00Z', timeMax: '2027-03-01T00:00:00Z', items: [] },
  }),
);

const patched = await calendar.events.patch({
  calendarId: 'primary',
  eventId: inserted.data.id,
  requestBody: { summary: `SDK weekly renamed ${stamp}` },
});
const fetched = await calendar.events.get({ calendarId: 'primary', eventId: inserted.data.id });
report.patch = { summary: fetched.data.summary === patched.data.summary };
const deleted = await calendar.events.delete({ calendarId: 'primary', eventId: inserted.data.id });
report.delete = {
  status: deleted.status,
  again: await refusal(() => calendar.events.delete({ calendarId: 'primary', eventId: inserted.data.id })),
};

console.log(JSON.stringify(report));
