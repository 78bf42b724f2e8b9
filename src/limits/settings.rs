//! `[limits]` and `[redis]`: where the rate classes keep their counts. `local` (the default)
//! keeps them in this process; `redis` keeps them in one Redis that every gateway shares, and
//! then needs `redis.url` and `limits.assumed_instances` — the number of gateways that share
//! it, by which each divides the provider's allowance while Redis cannot be reached.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Where the rate classes count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// In this process: each gateway counts alone.
    #[default]
    Local,
    /// In Redis, shared by every gateway pointed at it.
    Redis,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSettings {
    pub backend: BackendKind,
    /// How many gateways share the Redis backend; each falls back to its share of every
    /// allowance (capacity ÷ this, at least 1) while Redis is unreachable. Required with
    /// `backend = "redis"`.
    pub assumed_instances: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSettings {
    /// `redis://host:6379/0` (or `rediss://` for TLS); a password in it stays out of logs.
    pub url: Option<SecretString>,
    /// How long connecting to Redis may take; Redis silent for 3 × this while a call waits
    /// (or a failed connection) makes this gateway fall back to its local share.
    pub timeout_ms: u64,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: None,
            timeout_ms: 1000,
        }
    }
}

/// What the shared backend needs, once checked.
#[derive(Debug, Clone)]
pub struct SharedSettings {
    pub client: redis::Client,
    pub assumed_instances: u32,
    pub timeout: Duration,
}

/// Checks the pair: `None` for the local backend; the shared one's settings for `redis`, or
/// what is missing or wrong (never the URL itself: it may hold a password).
pub fn shared(
    limits: &LimitsSettings,
    redis: &RedisSettings,
) -> Result<Option<SharedSettings>, String> {
    if limits.backend == BackendKind::Local {
        return Ok(None);
    }
    let assumed_instances = match limits.assumed_instances {
        Some(0) => return Err("limits.assumed_instances must be at least 1".into()),
        Some(n) => n,
        None => {
            return Err(
                "limits.backend = \"redis\" needs limits.assumed_instances: how many gateways share the limits (each falls back to its share while Redis is unreachable)"
                    .into(),
            );
        }
    };
    let Some(url) = &redis.url else {
        return Err("limits.backend = \"redis\" needs redis.url".into());
    };
    let client = redis::Client::open(url.expose_secret())
        .map_err(|e| format!("redis.url is not a Redis URL ({})", e.category()))?;
    Ok(Some(SharedSettings {
        client,
        assumed_instances,
        timeout: Duration::from_millis(redis.timeout_ms.max(1)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_needs_a_url_and_the_number_of_instances() {
        let redis = |url: Option<&str>| RedisSettings {
            url: url.map(|u| SecretString::from(u.to_owned())),
            ..RedisSettings::default()
        };
        let limits = |n| LimitsSettings {
            backend: BackendKind::Redis,
            assumed_instances: n,
        };
        assert!(
            shared(&LimitsSettings::default(), &redis(None))
                .unwrap()
                .is_none()
        );
        let url = Some("redis://127.0.0.1:6379");
        let missing = shared(&limits(None), &redis(url)).unwrap_err();
        assert!(missing.contains("limits.assumed_instances"), "{missing}");
        assert!(shared(&limits(Some(0)), &redis(url)).is_err());
        assert!(
            shared(&limits(Some(3)), &redis(None))
                .unwrap_err()
                .contains("redis.url")
        );
        let bad = shared(&limits(Some(3)), &redis(Some("http://:hunter2@x"))).unwrap_err();
        assert!(!bad.contains("hunter2"), "{bad}");
        let ok = shared(&limits(Some(3)), &redis(url)).unwrap().unwrap();
        assert_eq!(ok.assumed_instances, 3);
    }
}
