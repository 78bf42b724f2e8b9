import { StrictMode, useEffect, useMemo, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import 'graphiql/style.css';
import './playground.css';
import { ConnectionsProvider, connectionsPlugin } from './connections.jsx';
import { EXAMPLES } from './examples.js';
import { createFetcher } from './fetcher.js';
import { referencePlugin } from './reference.jsx';
import { loadSettings, scopedStorage } from './settings.js';

// Shown in GraphiQL's sidebar after the documentation pane (reference.jsx) and History.
const PLUGINS = [connectionsPlugin];

function Playground({ settings }) {
  const fetcher = useMemo(() => createFetcher(settings), [settings]);
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
        // Open on the Headers editor: under `nexus serve` that is where the caller's key goes.
        defaultEditorToolsVisibility="headers"
        shouldPersistHeaders
        storage={storage ?? undefined}
        plugins={PLUGINS}
        referencePlugin={referencePlugin}
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
