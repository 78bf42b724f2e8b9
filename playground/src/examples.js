// Example operations shown as the playground's default tabs.
// They use only names the schema keeps (docs/schema.md); tests/js/examples.mjs validates each one
// against schema.graphql and runs the queries and the mutation against a gateway.

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
  `# A cross-provider join: CRM contacts (Salesforce and HubSpot, merged newest first)
# with their company and deals from the CRM, their mail from Gmail and Outlook and
# the events they attend from Google Calendar and Outlook
query ContactsWithMailAndMeetings {
  contacts(first: 5) {
    nodes {
      provider
      name
      email
      company {
        name
      }
      deals(first: 3) {
        nodes {
          name
          stage
        }
      }
      emails(first: 3) {
        nodes {
          provider
          subject
          date
        }
      }
      events(first: 3) {
        nodes {
          provider
          title
          start
        }
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
`,
  `# Mail across Gmail and Outlook, newest first
query RecentMail {
  emails(first: 10, filter: { unread: true }) {
    nodes {
      provider
      subject
      from {
        name
        email
      }
      date
      snippet
    }
  }
}
`,
  `# Events across Google Calendar and Outlook, earliest start first
query Calendar {
  events(first: 10) {
    nodes {
      provider
      title
      start
      end
      location
      attendees {
        email
        response
      }
    }
  }
}
`,
  `# A mutation: creates a contact in HubSpot (the same idempotency key
# answers with the same contact instead of creating a second one)
mutation CreateContact {
  createContact(
    input: {
      provider: HUBSPOT
      firstName: "Grace"
      lastName: "Hopper"
      email: "grace.hopper@example.com"
      idempotencyKey: "playground-example-grace-hopper"
    }
  ) {
    contact {
      id
      provider
      name
      email
    }
  }
}
`,
  `# The project's change stream over WebSocket: each contact created, updated
# or deleted in a CRM as it happens (run CreateContact in another tab)
subscription ContactChanges {
  changes(types: ["Contact"]) {
    op
    provider
    type
    remoteId
    occurredAt
    cursor
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
