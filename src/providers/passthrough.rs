//! The passthrough: a raw call to a provider's API (`nexus_core::Passthrough`), sent through
//! the upstream stack as every adapter call is (credentials, refresh, rate classes, retries of
//! what is safe to repeat, the breaker) and read by the provider's own error classifier, so its
//! failures come back in the gateway's words. Its op is `passthrough`: the catalog's rate
//! classes that count every call count it; those that name their ops do not.

use std::collections::BTreeMap;

use async_trait::async_trait;
use nexus_core::{Passthrough, RawRequest, RawResponse};

use crate::upstream::{Body, Call, Classify, ErrorKind, ProviderError, Target, Upstream};

use super::Provider;

/// The op name of every raw call, in logs, metrics and errors.
pub const OP: &str = "passthrough";

/// Raw calls to the providers the registry has adapters for.
pub struct ProviderPassthrough {
    upstream: Upstream,
    classify: BTreeMap<Provider, Classify>,
}

impl ProviderPassthrough {
    /// Raw calls through `upstream`, each provider's answers read by its `classify`.
    pub fn new(upstream: Upstream, classify: BTreeMap<Provider, Classify>) -> Self {
        Self { upstream, classify }
    }
}

/// The stack's call for a raw request: safe to repeat when its method is idempotent.
fn call(request: &RawRequest) -> Call {
    Call {
        op: OP,
        method: request.method.clone(),
        path: request.path.clone(),
        query: request.query.clone(),
        body: request.body.clone().map(Body::Json),
        idempotent: request.method.is_idempotent(),
        parts: Vec::new(),
    }
}

#[async_trait]
impl Passthrough for ProviderPassthrough {
    fn supports(&self, provider: Provider) -> bool {
        self.classify.contains_key(&provider)
    }

    async fn send(
        &self,
        target: Target,
        request: &RawRequest,
    ) -> Result<RawResponse, ProviderError> {
        let Some(classify) = self.classify.get(&target.provider) else {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                target.provider,
                OP,
                format!("this build makes no raw calls to {}", target.provider),
            ));
        };
        if !request.path.starts_with('/') {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                target.provider,
                OP,
                "the path must start with `/`",
            ));
        }
        let reply = self
            .upstream
            .send(target, &call(request), *classify)
            .await?;
        Ok(RawResponse {
            status: reply.status,
            headers: reply.headers,
            body: reply.body,
        })
    }
}

#[cfg(test)]
mod tests {
    use http::Method;

    use super::*;

    fn request(method: Method) -> RawRequest {
        RawRequest {
            method,
            path: "/crm/v3/objects/contacts".into(),
            query: vec![("limit".into(), "1".into())],
            body: None,
        }
    }

    #[test]
    fn only_idempotent_methods_are_safe_to_repeat() {
        assert!(call(&request(Method::GET)).idempotent);
        assert!(call(&request(Method::PUT)).idempotent);
        assert!(!call(&request(Method::POST)).idempotent);
        assert!(!call(&request(Method::PATCH)).idempotent);
        let get = call(&request(Method::GET));
        assert_eq!(get.op, OP);
        assert_eq!(get.query, [("limit".to_owned(), "1".to_owned())]);
    }
}
