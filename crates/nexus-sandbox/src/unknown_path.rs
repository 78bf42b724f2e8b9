//! The answer to a path no route names: the 404 of the provider whose prefix the path carries,
//! with that provider's own error body, never an empty one (Salesforce's `NOT_FOUND` array,
//! HubSpot's `OBJECT_NOT_FOUND`, Slack's `unknown_method`, Google's `notFound`, Graph's
//! `ResourceNotFound`, Stripe's `invalid_request_error` "Unrecognized request URL"; Graph's
//! `/v1.0/…` paths have their own answer, 400 as Graph gives it).

use axum::{
    Json,
    http::{Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use serde_json::json;

/// The root router's fallback.
pub async fn answer(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    match first {
        "hubspot" => crate::hubspot::error::not_found().into_response(),
        "slack" => {
            let method = path.rsplit('/').next().unwrap_or_default();
            (
                StatusCode::NOT_FOUND,
                Json(json!({ "ok": false, "error": "unknown_method", "req_method": method })),
            )
                .into_response()
        }
        "google" => crate::google::error::not_found().into_response(),
        "stripe" => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": {
                "message": format!(
                    "Unrecognized request URL ({method}: {}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.",
                    path.strip_prefix("/stripe").unwrap_or(path)
                ),
                "type": "invalid_request_error",
            }})),
        )
            .into_response(),
        "microsoft" => crate::microsoft::error::resource_not_found(format!(
            "Resource not found for the segment '{}'.",
            path.rsplit('/').next().unwrap_or_default()
        ))
        .into_response(),
        _ => crate::salesforce::error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
        )
        .into_response(),
    }
}
