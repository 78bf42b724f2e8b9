// Runtime settings served by the gateway next to the page:
//   GET /playground/settings.json -> {"endpoint":"/graphql","headers":{"Authorization":"Bearer nxk_..."}}

export async function loadSettings() {
  const url = `${import.meta.env.BASE_URL}settings.json`;
  const res = await fetch(url, { cache: 'no-store', credentials: 'same-origin' });
  if (!res.ok) {
    throw new Error(`GET ${url} answered ${res.status} ${res.statusText}`);
  }
  const raw = await res.json();
  const endpoint = typeof raw.endpoint === 'string' && raw.endpoint ? raw.endpoint : '/graphql';
  const headers = {};
  if (raw.headers && typeof raw.headers === 'object') {
    for (const [k, v] of Object.entries(raw.headers)) {
      if (typeof v === 'string') headers[k] = v;
    }
  }
  const httpUrl = new URL(endpoint, window.location.href);
  const wsUrl = new URL(httpUrl.href);
  wsUrl.protocol = httpUrl.protocol === 'https:' ? 'wss:' : 'ws:';
  return { endpoint, headers, httpUrl: httpUrl.href, wsUrl: wsUrl.href };
}

// GraphiQL keeps tabs in localStorage. Scope that state to the endpoint and
// headers the gateway handed out, so a new demo key (new database) starts from
// the example tabs with the right key instead of a stale one; older scopes are
// dropped.
const PREFIX = 'nexus-playground:';

function shortHash(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(36);
}

export function scopedStorage(settings) {
  let ls;
  try {
    ls = window.localStorage;
    ls.getItem('probe');
  } catch {
    return null; // storage disabled: GraphiQL then keeps state in memory
  }
  const scope = `${PREFIX}${shortHash(JSON.stringify([settings.endpoint, settings.headers]))}:`;
  const ours = () => {
    const keys = [];
    for (let i = 0; i < ls.length; i++) {
      const k = ls.key(i);
      if (k && k.startsWith(scope)) keys.push(k);
    }
    return keys;
  };
  try {
    const stale = [];
    for (let i = 0; i < ls.length; i++) {
      const k = ls.key(i);
      if (k && k.startsWith(PREFIX) && !k.startsWith(scope)) stale.push(k);
    }
    stale.forEach((k) => ls.removeItem(k));
  } catch {
    /* ignore */
  }
  return {
    getItem: (k) => ls.getItem(scope + k),
    setItem: (k, v) => ls.setItem(scope + k, v),
    removeItem: (k) => ls.removeItem(scope + k),
    clear: () => ours().forEach((k) => ls.removeItem(k)),
    get length() {
      return ours().length;
    },
  };
}
