// The fetcher GraphiQL runs operations with: queries and mutations over HTTP (GraphiQL's own
// fetcher), subscriptions over WebSocket through a graphql-ws client made per subscription, with
// the settings' headers merged with the Headers editor's as its `connection_init` payload.
//
// A gateway that refuses the caller (a missing or invalid key: close 4401 or 4403; over its
// per-caller limit: 4429) would refuse it again: the client does not retry those, and the
// refusal is shown at once as a GraphQL error (graphql-ws's default retries 4403 five times with
// random back-off, which left the page spinning for some 40 seconds). Other losses of the socket
// are retried as graphql-ws does.
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { getOperationAST, parse } from 'graphql';
import { createClient } from 'graphql-ws';

// Close codes that mean "not you, not now": retrying cannot help.
const REFUSED = {
  4401: 'UNAUTHENTICATED',
  4403: 'UNAUTHENTICATED',
  4429: 'RATE_LIMITED',
};

const isCloseEvent = (e) => typeof e === 'object' && e !== null && typeof e.code === 'number' && 'reason' in e;

// Whether the operation GraphiQL asks for is a subscription.
function isSubscription({ query, operationName }) {
  try {
    return getOperationAST(parse(query), operationName ?? undefined)?.operation === 'subscription';
  } catch {
    return false; // does not parse: the HTTP endpoint says why
  }
}

// A close event as a GraphQL result the response pane shows.
function closedResult(event) {
  const code = REFUSED[event.code];
  const reason = event.reason || 'no reason given';
  const message = code
    ? `The gateway refused the subscription: ${reason} (WebSocket close ${event.code}). ` +
      (code === 'UNAUTHENTICATED'
        ? 'Put {"Authorization": "Bearer nxk_…"} with a valid API key in the Headers editor.'
        : 'Try again later.')
    : `The subscription's WebSocket closed: ${reason} (close ${event.code}).`;
  return { errors: [{ message, extensions: { code: code ?? 'WEBSOCKET_CLOSED', closeCode: event.code } }] };
}

async function* subscribe(wsUrl, params, headers) {
  const client = createClient({
    url: wsUrl,
    connectionParams: headers,
    lazy: true,
    shouldRetry: (e) => !(isCloseEvent(e) && e.code in REFUSED),
  });
  try {
    yield* client.iterate({
      query: params.query,
      variables: params.variables ?? undefined,
      operationName: params.operationName ?? undefined,
    });
  } catch (error) {
    if (!isCloseEvent(error)) throw error;
    yield closedResult(error);
  } finally {
    await client.dispose();
  }
}

export function createFetcher(settings) {
  const http = createGraphiQLFetcher({
    url: settings.httpUrl,
    // Baseline headers (introspection may run before the headers editor exists); the headers
    // editor's values override them.
    headers: settings.headers,
    // The gateway answers plain JSON; no multipart incremental delivery.
    enableIncrementalDelivery: false,
  });
  return (params, options) =>
    isSubscription(params)
      ? subscribe(settings.wsUrl, params, { ...settings.headers, ...options?.headers })
      : http(params, options);
}
