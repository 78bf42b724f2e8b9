// The documentation pane: GraphiQL's Documentation Explorer, except when the gateway refuses to
// describe its schema. With `graphql.introspection` off (`nexus serve`'s default) the gateway
// answers GraphiQL's introspection query with `INTROSPECTION_DISABLED`, naming the setting that
// turns it on; without a valid key, with `UNAUTHENTICATED`. The pane then says so, and what to do,
// instead of "Error fetching schema".
import { useSchemaStore } from '@graphiql/react';
import { DOC_EXPLORER_PLUGIN } from '@graphiql/plugin-doc-explorer';

// The first error of the failed introspection (GraphiQL keeps its answer as JSON text).
function refusal(fetchError) {
  if (!fetchError) return null;
  try {
    const error = JSON.parse(fetchError)?.errors?.[0];
    const code = error?.extensions?.code;
    return code ? { code, message: error.message, setting: error.extensions.setting } : null;
  } catch {
    return null;
  }
}

function Reference() {
  const { fetchError } = useSchemaStore();
  const refused = refusal(fetchError);
  const Explorer = DOC_EXPLORER_PLUGIN.content;
  if (refused?.code === 'INTROSPECTION_DISABLED') {
    const setting = refused.setting ?? 'graphql.introspection';
    return (
      <section className="nexus-reference" role="alert" data-code={refused.code}>
        <div className="graphiql-doc-explorer-title">Documentation</div>
        <p>This gateway does not describe its schema: introspection is disabled.</p>
        <p>
          To browse the documentation here, enable it with <code>{setting} = true</code> in the settings file
          (or <code>NEXUS_GRAPHQL__INTROSPECTION=true</code>) and restart the gateway.
        </p>
        <p className="nexus-reference-muted">
          The schema is also in <code>schema.graphql</code>, and <code>nexus schema</code> prints it.
        </p>
      </section>
    );
  }
  if (refused?.code === 'UNAUTHENTICATED') {
    return (
      <section className="nexus-reference" role="alert" data-code={refused.code}>
        <div className="graphiql-doc-explorer-title">Documentation</div>
        <p>The gateway needs an API key to describe its schema.</p>
        <p>
          Put <code>{'{"Authorization": "Bearer nxk_…"}'}</code> in the Headers editor, then re-fetch the schema
          (the ↻ button in the sidebar).
        </p>
        <p className="nexus-reference-muted">{refused.message}</p>
      </section>
    );
  }
  return <Explorer />;
}

export const referencePlugin = { ...DOC_EXPLORER_PLUGIN, content: Reference };
