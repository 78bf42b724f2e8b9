//! A graphql-transport-ws client for the tests: connect with an API key, subscribe, read events.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, client_async, connect_async,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};

use crate::helpers::TestApp;

pub struct Subscriber {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Subscriber {
    /// Opens a socket to `app`, authenticated with `key`, and starts `query` as subscription "1".
    pub async fn start(app: &TestApp, key: &str, query: &str, variables: Value) -> Self {
        Self::open(app, key, query, variables, false, None).await
    }

    /// Like `start`, the handshake sent with `x-request-id: request_id`.
    pub async fn start_identified(
        app: &TestApp,
        key: &str,
        request_id: &str,
        query: &str,
        variables: Value,
    ) -> Self {
        Self::open(app, key, query, variables, false, Some(request_id)).await
    }

    /// Like `start`, over a socket with a small receive buffer: a subscriber that stops reading
    /// soon holds up the server's writes, as a slow consumer across the internet would.
    pub async fn start_narrow(app: &TestApp, key: &str, query: &str, variables: Value) -> Self {
        Self::open(app, key, query, variables, true, None).await
    }

    async fn open(
        app: &TestApp,
        key: &str,
        query: &str,
        variables: Value,
        narrow: bool,
        request_id: Option<&str>,
    ) -> Self {
        let url = app.url("/graphql").replacen("http://", "ws://", 1);
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        if let Some(id) = request_id {
            request
                .headers_mut()
                .insert("x-request-id", HeaderValue::from_str(id).unwrap());
        }
        let mut socket = if narrow {
            let address = app.origin.trim_start_matches("http://").parse().unwrap();
            let tcp = TcpSocket::new_v4().unwrap();
            tcp.set_recv_buffer_size(4096).unwrap();
            let stream = tcp.connect(address).await.expect("tcp");
            client_async(request, MaybeTlsStream::Plain(stream))
                .await
                .expect("websocket")
                .0
        } else {
            connect_async(request).await.expect("websocket").0
        };
        let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {key}") } });
        socket.send(Message::text(init.to_string())).await.unwrap();
        let mut subscriber = Self { socket };
        let ack = subscriber.message().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": variables } });
        subscriber
            .socket
            .send(Message::text(subscribe.to_string()))
            .await
            .unwrap();
        subscriber
    }

    /// The next protocol message (pings answered on the way).
    pub async fn message(&mut self) -> Value {
        loop {
            let frame =
                tokio::time::timeout(std::time::Duration::from_secs(30), self.socket.next())
                    .await
                    .expect("a message within 30 s")
                    .expect("the socket is open")
                    .expect("a frame");
            match frame {
                Message::Text(text) => {
                    let message: Value = serde_json::from_str(&text).unwrap();
                    if message["type"] == "ping" {
                        let pong = json!({ "type": "pong" }).to_string();
                        self.socket.send(Message::text(pong)).await.unwrap();
                        continue;
                    }
                    return message;
                }
                Message::Close(frame) => panic!("closed: {frame:?}"),
                _ => {}
            }
        }
    }

    /// The payload of the next `next` message; panics on an error or completion.
    /// The next record change; lifecycle events (`connection.created`, `sync.completed`, ...)
    /// are passed over (tests/it/sse.rs covers them).
    pub async fn next(&mut self) -> Value {
        loop {
            let message = self.message().await;
            assert_eq!(message["type"], "next", "{message}");
            assert!(message["payload"]["errors"].is_null(), "{message}");
            if !crate::helpers::is_lifecycle(&message["payload"]["data"]["changes"]) {
                return message["payload"].clone();
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}
