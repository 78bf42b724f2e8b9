//! Subscriptions over WebSocket on `/graphql` (`graphql-transport-ws`, and the legacy
//! `graphql-ws`), driven by async-graphql's protocol state machine.
//!
//! The caller authenticates in `connection_init` with `{"Authorization": "Bearer <key>"}`.
//! A refused caller's socket is closed with 4403 Forbidden, as graphql-transport-ws asks
//! (async-graphql itself would close with 1002, which clients read as a protocol error); a
//! caller over its per-caller limit, with 4429 Too many initialisation requests.
//!
//! Every error sent on the socket — an `error` message, and the `errors` of a `next` (or legacy
//! `data`) payload — carries the handshake's request id as `extensions.requestId`, as errors
//! over HTTP do: the `x-request-id` of the upgrade request, which its log lines carry.
//!
//! Before that, the handshake's `Origin` is checked ([`super::cors::Origins::admits`]): a page
//! on an origin not allowed is refused with 403, since browsers let any page open a WebSocket.
//!
//! Each socket is a task recorded by [`crate::shutdown::Shutdown`]: when the gateway stops
//! (SIGTERM), once the HTTP requests in flight are done, every open socket is closed with 1001
//! Going Away and a reason, so clients know to reconnect (elsewhere) instead of seeing the
//! connection drop (1006); the stop waits for those close frames to go out.

use std::{
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicU16, Ordering},
    },
};

use async_graphql::{
    Data,
    http::{ALL_WEBSOCKET_PROTOCOLS, WebSocket, WebSocketProtocols, WsMessage},
};
use axum::{
    extract::{
        FromRequestParts, Request, WebSocketUpgrade,
        ws::{CloseFrame, Message},
    },
    response::{IntoResponse, Response},
};
use futures_util::{SinkExt, StreamExt, future};
use http::{
    HeaderMap, StatusCode,
    header::{SEC_WEBSOCKET_PROTOCOL, UPGRADE},
};

use crate::{auth::AuthError, graphql::Executed};

use super::AppState;

/// graphql-transport-ws's close code for a refused `connection_init`.
const FORBIDDEN: u16 = 4403;
/// graphql-transport-ws's close code for too many `connection_init`s: the caller is over its
/// limit.
const TOO_MANY: u16 = 4429;
/// RFC 6455's close code for an endpoint going away: the server is shutting down.
const GOING_AWAY: u16 = 1001;
/// The reason sent with [`GOING_AWAY`].
const SHUTTING_DOWN: &str = "the gateway is shutting down";

pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

pub async fn upgrade(state: AppState, request: Request) -> Response {
    if !state.origins.admits(request.headers()) {
        return (
            StatusCode::FORBIDDEN,
            "pages on this origin may not open a WebSocket here (server.cors.allowed_origins)",
        )
            .into_response();
    }
    let request_id = super::access::request_id(request.headers()).map(str::to_owned);
    let (mut parts, _body) = request.into_parts();
    let protocol = parts
        .headers
        .get(SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|list| {
            list.split(',')
                .find_map(|p| WebSocketProtocols::from_str(p.trim()).ok())
        });
    let Some(protocol) = protocol else {
        return (
            StatusCode::BAD_REQUEST,
            "Sec-WebSocket-Protocol must offer graphql-transport-ws",
        )
            .into_response();
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| async move {
            let shutdown = state.shutdown.clone();
            shutdown.spawn("websocket", serve(state, socket, protocol, request_id));
        })
}

async fn serve(
    state: AppState,
    socket: axum::extract::ws::WebSocket,
    protocol: WebSocketProtocols,
    request_id: Option<String>,
) {
    let (mut sink, stream) = socket.split();
    let input = stream
        .take_while(|msg| future::ready(msg.is_ok()))
        .filter_map(|msg| {
            future::ready(match msg {
                Ok(Message::Text(text)) => Some(text.as_bytes().to_vec()),
                Ok(Message::Binary(bytes)) => Some(bytes.to_vec()),
                _ => None,
            })
        });
    // The close code for a refused `connection_init`; 0 while none was refused.
    let refused = Arc::new(AtomicU16::new(0));
    let auth = state.auth.clone();
    let on_init = {
        let refused = refused.clone();
        move |payload: serde_json::Value| async move {
            let header = payload
                .as_object()
                .and_then(|map| {
                    map.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                })
                .and_then(|(_, v)| v.as_str());
            match auth.authenticate(header).await {
                Ok(caller) => {
                    let mut data = Data::default();
                    data.insert(caller.tenant);
                    data.insert(caller.scopes);
                    data.insert(Executed::default());
                    Ok(data)
                }
                Err(error) => {
                    let code = match error {
                        AuthError::RateLimited(_) => TOO_MANY,
                        _ => FORBIDDEN,
                    };
                    refused.store(code, Ordering::Release);
                    Err(async_graphql::Error::new(error.to_string()))
                }
            }
        }
    };
    let output = WebSocket::new(state.schema.clone(), input, protocol)
        .on_connection_init(on_init)
        .map(|msg| match msg {
            WsMessage::Text(text) => match &request_id {
                Some(id) => Message::Text(with_request_id(text, id).into()),
                None => Message::Text(text.into()),
            },
            WsMessage::Close(code, reason) => {
                let code = match refused.load(Ordering::Acquire) {
                    0 => code,
                    refused => refused,
                };
                Message::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                }))
            }
        });
    futures_util::pin_mut!(output);
    let shutdown = state.shutdown.clone();
    loop {
        let (message, last) = tokio::select! {
            message = output.next() => match message {
                Some(message) => (message, false),
                None => break,
            },
            () = shutdown.cancelled() => {
                let going = CloseFrame {
                    code: GOING_AWAY,
                    reason: SHUTTING_DOWN.into(),
                };
                (Message::Close(Some(going)), true)
            }
        };
        if sink.send(message).await.is_err() || last {
            break;
        }
    }
}

/// `message` with `extensions.requestId` set on each error it carries.
fn with_request_id(message: String, id: &str) -> String {
    // Only a message that may carry errors (`error`, `connection_error`, `errors`) is read and
    // written again.
    if !message.contains("error") {
        return message;
    }
    let Ok(mut parsed) = serde_json::from_str::<serde_json::Value>(&message) else {
        return message;
    };
    let kind = parsed["type"].as_str().map(str::to_owned);
    let errors = match kind.as_deref() {
        Some("error" | "connection_error") => parsed.get_mut("payload"),
        Some("next" | "data") => parsed
            .get_mut("payload")
            .and_then(|payload| payload.get_mut("errors")),
        _ => None,
    };
    let errors: Vec<&mut serde_json::Value> = match errors {
        Some(serde_json::Value::Array(errors)) => errors.iter_mut().collect(),
        Some(error @ serde_json::Value::Object(_)) => vec![error],
        _ => return message,
    };
    for error in errors {
        let Some(error) = error.as_object_mut() else {
            continue;
        };
        let extensions = error
            .entry("extensions")
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        if let Some(extensions) = extensions.as_object_mut() {
            extensions.insert("requestId".into(), id.into());
        }
    }
    serde_json::to_string(&parsed).unwrap_or(message)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::with_request_id;

    fn marked(message: Value) -> Value {
        serde_json::from_str(&with_request_id(message.to_string(), "req-1")).unwrap()
    }

    #[test]
    fn errors_of_every_kind_carry_the_request_id() {
        let error = marked(json!({"id": "1", "type": "error", "payload": [{"message": "bad"}]}));
        assert_eq!(error["payload"][0]["extensions"]["requestId"], "req-1");
        let next = marked(json!({"id": "1", "type": "next", "payload": {
            "data": null,
            "errors": [{"message": "x", "extensions": {"code": "SUBSCRIBER_BEHIND"}}]
        }}));
        assert_eq!(
            next["payload"]["errors"][0]["extensions"]["requestId"],
            "req-1"
        );
        assert_eq!(
            next["payload"]["errors"][0]["extensions"]["code"],
            "SUBSCRIBER_BEHIND"
        );
        let legacy = marked(json!({"type": "connection_error", "payload": {"message": "no"}}));
        assert_eq!(legacy["payload"]["extensions"]["requestId"], "req-1");
        let data = json!({"id": "1", "type": "next", "payload": {"data": {"error": 1}}});
        assert_eq!(marked(data.clone()), data);
    }
}
