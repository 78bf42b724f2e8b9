import { StrictMode, useEffect, useMemo, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import 'graphiql/style.css';
import './playground.css';
import { ConnectionsProvider, connectionsPlugin } from './connections.jsx';
import { EXAMPLES } from './examples.js';
import { loadSettings, scopedStorage } from './settings.js';

// Shown in GraphiQL's sidebar after its Documentation Explorer and History.
const PLUGINS = [connectionsPlugin];

function Playground({ settings }) {
  const fetcher = useMemo(
    () =>
      createGraphiQLFetcher({
        url: settings.httpUrl,
        // Subscriptions: graphql-ws (graphql-transport-ws) client created per
        // subscription; connectionParams = these headers merged with the ones
        // in the headers editor, e.g. {"Authorization":"Bearer nxk_..."}.
        subscriptionUrl: settings.wsUrl,
        wsConnectionParams: settings.headers,
        // Baseline headers for HTTP (introspection may run before the headers
        // editor exists); the headers editor's values override them.
        headers: settings.headers,
        // The gateway answers plain JSON; no multipart incremental delivery.
        enableIncrementalDelivery: false,
      }),
    [settings],
  );
  const headersText = useMemo(
    () => (Object.keys(settings.headers).length ? JSON.stringify(settings.headers, null, 2) : ''),
    [settings],
  );
  const defaultTabs = useMemo(
    () => EXAMPLES.map((query) => ({ query, headers: headersText })),
    [headersText],
  );
  const storage = useMemo(() => scopedStorage(settings), [settings]);

  return (
    <ConnectionsProvider settings={settings}>
      <GraphiQL
        fetcher={fetcher}
        defaultTabs={defaultTabs}
        defaultHeaders={headersText}
        defaultEditorToolsVisibility={headersText ? 'headers' : false}
        shouldPersistHeaders
        storage={storage ?? undefined}
        plugins={PLUGINS}
      >
        <GraphiQL.Logo>Nexus Gateway</GraphiQL.Logo>
      </GraphiQL>
    </ConnectionsProvider>
  );
}

function App() {
  const [state, setState] = useState({ settings: null, error: null });
  useEffect(() => {
    let cancelled = false;
    loadSettings().then(
      (settings) => !cancelled && setState({ settings, error: null }),
      (error) => !cancelled && setState({ settings: null, error }),
    );
    return () => {
      cancelled = true;
    };
  }, []);

  if (state.error) {
    return (
      <div className="nexus-status nexus-error" role="alert">
        <h1>Nexus Gateway — Playground</h1>
        <p>Could not load the playground settings: {String(state.error.message || state.error)}</p>
      </div>
    );
  }
  if (!state.settings) {
    return <p className="nexus-status">Loading playground…</p>;
  }
  return <Playground settings={state.settings} />;
}

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
