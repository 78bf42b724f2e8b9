// Example operations shown as the playground's default tabs.
// They use only names the schema keeps (see DESIGN.md, "Names the schema keeps").

export const EXAMPLES = [
  `# The caller: user, project and connected providers
query Viewer {
  viewer {
    user {
      id
      email
    }
    project {
      id
      name
    }
    connections {
      provider
      status
      scopes
      expiresAt
    }
  }
}
`,
  `# Contacts merged across the connected CRMs
query Contacts {
  contacts(first: 10) {
    edges {
      cursor
      node {
        id
        provider
        name
        email
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
`,
  `# Subscriptions run over WebSocket
subscription Heartbeat {
  heartbeat(count: 3, intervalMs: 1000) {
    sequence
    at
  }
}
`,
];
