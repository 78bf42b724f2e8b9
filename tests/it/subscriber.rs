//! A graphql-transport-ws client for the tests: connect with an API key, subscribe, read events.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};

use crate::helpers::TestApp;

pub struct Subscriber {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Subscriber {
    /// Opens a socket to `app`, authenticated with `key`, and starts `query` as subscription "1".
    pub async fn start(app: &TestApp, key: &str, query: &str, variables: Value) -> Self {
        let url = app.url("/graphql").replacen("http://", "ws://", 1);
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        let (mut socket, _) = connect_async(request).await.expect("websocket");
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
    pub async fn next(&mut self) -> Value {
        let message = self.message().await;
        assert_eq!(message["type"], "next", "{message}");
        assert!(message["payload"]["errors"].is_null(), "{message}");
        message["payload"].clone()
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}
