// The "Connections" panel: a GraphiQL sidebar plugin listing every provider of the catalog with
// the caller's connection to it (`viewer.connections`), a Connect button that sends the browser to
// the provider's consent page (`connectProvider`), and a Disconnect button (`disconnectProvider`).
// After consent the gateway redirects back to /playground/?connected=<slug> (or, refused, with
// ?error=…&error_description=…&provider=<slug>): the page then opens the panel with a notice and
// drops the parameters from the URL.
//
// The panel calls the gateway with the same headers as the operations: the settings' (the demo's
// key) overridden by the Headers editor's, read when a call is made. Under `nexus serve` the key a
// person types into the Headers editor is the one the panel uses; the list reloads when it changes.
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState } from 'react';
import { useEditorContext } from '@graphiql/react';
import './connections.css';

const TITLE = 'Connections';

const LIST = `query { viewer { connections { provider status scopes expiresAt } } }`;
const CONNECT = `mutation($p: Provider!, $r: String) { connectProvider(provider: $p, redirectAfter: $r) { url expiresAt } }`;
const DISCONNECT = `mutation($p: Provider!) { disconnectProvider(provider: $p) }`;

// Display names (the catalog's); an unknown enum value is shown title-cased.
const NAMES = {
  SALESFORCE: 'Salesforce',
  HUBSPOT: 'HubSpot',
  GMAIL: 'Gmail',
  GOOGLE_CALENDAR: 'Google Calendar',
  SLACK: 'Slack',
  OUTLOOK: 'Outlook',
  TEAMS: 'Microsoft Teams',
  STRIPE: 'Stripe',
};
// Providers that are not connected through OAuth consent, and why.
const NOT_OAUTH = {
  STRIPE: 'Uses a webhook signing secret: configured in the gateway settings.',
};

const providerName = (p) =>
  NAMES[p] ?? p.toLowerCase().replace(/(^|_)(\w)/g, (_, sep, c) => (sep ? ' ' : '') + c.toUpperCase());

// The Headers editor's headers (an object of strings); none when it is empty or not valid JSON.
function editorHeaders(headerEditor) {
  const text = headerEditor?.getValue()?.trim();
  if (!text) return {};
  try {
    const parsed = JSON.parse(text);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
    return Object.fromEntries(Object.entries(parsed).filter(([, v]) => typeof v === 'string'));
  } catch {
    return {};
  }
}

// POSTs an operation to the endpoint with `headers`; resolves to `data`, rejects with the first
// error as "CODE: message".
async function request(settings, headers, query, variables) {
  const res = await fetch(settings.httpUrl, {
    method: 'POST',
    credentials: 'same-origin',
    headers: {
      ...headers,
      'Content-Type': 'application/json',
      Accept: 'application/graphql-response+json, application/json',
    },
    body: JSON.stringify({ query, variables }),
  });
  let body = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON: reported below */
  }
  const error = body?.errors?.[0];
  if (error) {
    const code = error.extensions?.code;
    throw new Error(code ? `${code}: ${error.message}` : error.message);
  }
  if (!res.ok || !body?.data) throw new Error(`HTTP ${res.status} ${res.statusText}`.trim());
  return body.data;
}

// "expires in 42 min." / "expired 3 hr. ago" (in the browser's locale), from an RFC 3339 date-time.
function relativeExpiry(expiresAt) {
  const ms = Date.parse(expiresAt) - Date.now();
  if (Number.isNaN(ms)) return `expires ${expiresAt}`;
  const abs = Math.abs(ms);
  const [value, unit] =
    abs < 3_600_000
      ? [Math.round(ms / 60_000), 'minute']
      : abs < 172_800_000
        ? [Math.round(ms / 3_600_000), 'hour']
        : [Math.round(ms / 86_400_000), 'day'];
  const when = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto', style: 'short' }).format(value, unit);
  return ms < 0 ? `expired ${when}` : `expires ${when}`;
}

const ConnectionsContext = createContext(null);

// What the gateway's callback said in the address bar: ?connected=<slug>, or a refusal
// (?error=<RFC 6749 code>&error_description=…&provider=<slug>).
const RETURN_PARAMS = ['connected', 'error', 'error_description', 'provider'];
const SLUG = /^[a-z0-9_]{1,64}$/;

function arrivalNotice() {
  const params = new URLSearchParams(window.location.search);
  const slug = params.get('connected');
  if (slug && SLUG.test(slug)) return { text: `Connected ${providerName(slug.toUpperCase())}`, error: false };
  const error = params.get('error');
  if (!error) return null;
  const provider = params.get('provider');
  const name = provider && SLUG.test(provider) ? ` ${providerName(provider.toUpperCase())}` : '';
  const description = (params.get('error_description') ?? '').slice(0, 300);
  return { text: `Could not connect${name}: ${description || error.slice(0, 64)}`, error: true };
}

// Holds what the panel needs outside GraphiQL (settings, the post-consent notice) and handles
// the callback's parameters on load. Wrap <GraphiQL> in it.
export function ConnectionsProvider({ settings, children }) {
  const [notice, setNotice] = useState(arrivalNotice);

  // Drop the callback's parameters from the address bar so a reload does not repeat the notice.
  useEffect(() => {
    const url = new URL(window.location.href);
    if (!RETURN_PARAMS.some((p) => url.searchParams.has(p))) return;
    RETURN_PARAMS.forEach((p) => url.searchParams.delete(p));
    window.history.replaceState(window.history.state, '', url.pathname + url.search + url.hash);
  }, []);

  // Back from a consent page: open the panel (it loads the list when it opens) by clicking its
  // sidebar button, which is what also un-hides GraphiQL's plugin pane (4.1's `visiblePlugin` prop
  // selects a plugin but leaves the pane hidden). GraphiQL renders the button once its stores are
  // set up, a few commits after this one: wait for it.
  const arrived = notice !== null;
  useEffect(() => {
    if (!arrived) return undefined;
    const started = Date.now();
    const timer = setInterval(() => {
      const button = document.querySelector(`.graphiql-sidebar button[aria-label="Show ${TITLE}"]`);
      if (button) button.click();
      if (button || Date.now() - started > 10_000) clearInterval(timer);
    }, 50);
    return () => clearInterval(timer);
  }, [arrived]);

  const value = useMemo(() => ({ settings, notice, dismissNotice: () => setNotice(null) }), [settings, notice]);
  return <ConnectionsContext.Provider value={value}>{children}</ConnectionsContext.Provider>;
}

// How long the Headers editor must stay unchanged before the list reloads with its headers.
const HEADERS_SETTLE_MS = 400;

function ConnectionsPanel() {
  const { settings, notice, dismissNotice } = useContext(ConnectionsContext);
  const { headerEditor } = useEditorContext({ nonNull: true });
  const [connections, setConnections] = useState(null);
  const [loadError, setLoadError] = useState(null);
  const [busy, setBusy] = useState(null); // provider with a mutation in flight
  const [errors, setErrors] = useState({}); // provider -> last error message

  // The operations' headers: the settings' overridden by the Headers editor's.
  const headers = useCallback(() => ({ ...settings.headers, ...editorHeaders(headerEditor) }), [settings, headerEditor]);
  const call = useCallback((query, variables) => request(settings, headers(), query, variables), [settings, headers]);

  const refresh = useCallback(
    () =>
      call(LIST).then(
        (data) => {
          setConnections(data.viewer.connections);
          setLoadError(null);
        },
        (error) => {
          setConnections(null);
          setLoadError(error.message);
        },
      ),
    [call],
  );
  useEffect(() => {
    refresh();
  }, [refresh]);

  // Reload when the headers the panel would send change (a key typed or pasted, another tab).
  const sent = useRef(null);
  useEffect(() => {
    if (!headerEditor) return undefined;
    sent.current = JSON.stringify(headers());
    let timer;
    const onChange = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        const now = JSON.stringify(headers());
        if (now === sent.current) return;
        sent.current = now;
        refresh();
      }, HEADERS_SETTLE_MS);
    };
    headerEditor.on('change', onChange);
    return () => {
      clearTimeout(timer);
      headerEditor.off('change', onChange);
    };
  }, [headerEditor, headers, refresh]);

  const setError = (provider, message) => setErrors((all) => ({ ...all, [provider]: message }));

  async function connect(provider) {
    setBusy(provider);
    setError(provider, null);
    try {
      const data = await call(CONNECT, {
        p: provider,
        r: `${window.location.origin}${import.meta.env.BASE_URL}`,
      });
      window.location.assign(data.connectProvider.url); // the provider's consent page
    } catch (error) {
      setError(provider, error.message);
      setBusy(null);
    }
  }

  async function disconnect(provider) {
    setBusy(provider);
    setError(provider, null);
    try {
      await call(DISCONNECT, { p: provider });
    } catch (error) {
      setError(provider, error.message);
    }
    await refresh();
    setBusy(null);
  }

  return (
    <section className="nexus-connections" aria-label={TITLE}>
      <div className="nexus-connections-header">
        <span>{TITLE}</span>
        <button type="button" className="graphiql-button" onClick={refresh}>
          Refresh
        </button>
      </div>
      {notice && (
        <p
          className={notice.error ? 'nexus-connections-notice nexus-connections-error' : 'nexus-connections-notice'}
          role={notice.error ? 'alert' : 'status'}
        >
          <span>{notice.text}</span>
          <button type="button" onClick={dismissNotice} aria-label="Dismiss">
            ×
          </button>
        </p>
      )}
      {loadError && (
        <p className="nexus-connections-error" role="alert">
          Could not load the connections: {loadError}
        </p>
      )}
      {!connections && !loadError && <p className="nexus-connections-muted">Loading…</p>}
      {connections && (
        <ul className="nexus-connections-list">
          {connections.map((c) => (
            <Connection
              key={c.provider}
              connection={c}
              busy={busy === c.provider}
              disabled={busy !== null}
              error={errors[c.provider]}
              onConnect={() => connect(c.provider)}
              onDisconnect={() => disconnect(c.provider)}
            />
          ))}
        </ul>
      )}
    </section>
  );
}

function Connection({ connection, busy, disabled, error, onConnect, onDisconnect }) {
  const { provider, status, scopes, expiresAt } = connection;
  const connected = status === 'CONNECTED' || status === 'REFRESHING';
  const notOauth = NOT_OAUTH[provider];
  return (
    <li className="nexus-connection" data-provider={provider} data-status={status}>
      <div className="nexus-connection-row">
        <span className="nexus-connection-name">{providerName(provider)}</span>
        <span className={`nexus-connection-status nexus-status-${status.toLowerCase()}`}>{status}</span>
      </div>
      {status !== 'NOT_CONNECTED' && (
        <div className="nexus-connection-row nexus-connections-muted">
          <span title={expiresAt ?? undefined}>{expiresAt ? relativeExpiry(expiresAt) : 'no expiry'}</span>
          {scopes.length > 0 && (
            <details>
              <summary>
                {scopes.length} scope{scopes.length === 1 ? '' : 's'}
              </summary>
              <ul>
                {scopes.map((s) => (
                  <li key={s}>{s}</li>
                ))}
              </ul>
            </details>
          )}
        </div>
      )}
      <div className="nexus-connection-row">
        {notOauth ? (
          <span className="nexus-connections-muted">{notOauth}</span>
        ) : connected ? (
          <button type="button" className="graphiql-button" disabled={disabled} onClick={onDisconnect}>
            {busy ? 'Disconnecting…' : 'Disconnect'}
          </button>
        ) : (
          <button type="button" className="graphiql-button" disabled={disabled} onClick={onConnect}>
            {busy ? 'Connecting…' : status === 'REAUTH_REQUIRED' ? 'Reconnect' : 'Connect'}
          </button>
        )}
      </div>
      {error && (
        <p className="nexus-connections-error" role="alert">
          {error}
        </p>
      )}
    </li>
  );
}

// A plug, drawn like GraphiQL's own sidebar icons (1.5 px strokes in currentColor).
function PlugIcon(props) {
  return (
    <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="1.5" {...props}>
      <path d="M9 2v5M15 2v5" strokeLinecap="square" />
      <path d="M6 7h12v4a6 6 0 0 1-12 0V7Z" />
      <path d="M12 17v5" strokeLinecap="square" />
    </svg>
  );
}

export const connectionsPlugin = { title: TITLE, icon: PlugIcon, content: ConnectionsPanel };
