//! `UrlGuard`: which URLs a caller may make the gateway call, checked before the call and again
//! at every connection it opens.
//!
//! A URL passes when its scheme is `http` or `https` and its host may be reached: a public
//! address, or one `[net]` allows — `allow_private_targets` lets every non-public class through
//! except the clouds' metadata services, `allowed_targets` lets through the CIDRs and host names
//! it lists, metadata included. Everything else is refused with the class of address it
//! reached ([`AddressClass`]).
//!
//! Checking the URL is not enough: a name that resolves to a public address when it is checked
//! may resolve to `127.0.0.1` when the call connects (DNS rebinding), and a public server may
//! redirect to a private one. So the client from [`UrlGuard::client`] resolves names through a
//! resolver that drops the addresses the policy refuses — the address checked is the address
//! connected to — re-checks every redirect's URL, and never goes through a proxy (which would
//! resolve the name itself). Its requests are made through [`GuardedClient::request`], which
//! checks the URL first: a literal address (`127.1`, `2130706433`, `0x7f000001`, `[::1]`, all
//! parsed by the URL standard) is connected to without any resolver.

use std::{
    collections::HashSet,
    error::Error as StdError,
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use ipnet::IpNet;
use reqwest::{
    Method, RequestBuilder,
    dns::{Addrs, Name, Resolve, Resolving},
    redirect,
};
use url::{Host, Url};

use crate::config::NetSettings;

use super::addr::AddressClass;

/// Host names of metadata services, refused by name whatever they resolve to.
const METADATA_HOSTS: [&str; 3] = ["metadata.google.internal", "metadata.goog", "metadata"];

/// Redirects followed before giving up, as reqwest's default policy.
const MAX_REDIRECTS: usize = 10;

/// Why a URL may not be called. Messages name the host at fault, which is the caller's own.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TargetRefused {
    #[error("not a URL: {0}")]
    Invalid(#[from] url::ParseError),
    #[error("only http and https URLs may be called, not `{0}`")]
    Scheme(String),
    #[error("the URL has no host")]
    NoHost,
    #[error("`{host}` is {}, which may not be called", class.describe())]
    Address { host: String, class: AddressClass },
    #[error("`{host}` resolves only to addresses that may not be called ({})", class.describe())]
    Resolved { host: String, class: AddressClass },
    #[error("`{host}` does not resolve: {reason}")]
    Unresolved { host: String, reason: String },
}

impl TargetRefused {
    /// The refusal behind a failed call of a [`GuardedClient`], if the guard refused it (at
    /// connect time or on a redirect) rather than the network failing.
    pub fn in_error(error: &reqwest::Error) -> Option<&TargetRefused> {
        let mut cause: Option<&(dyn StdError + 'static)> = error.source();
        while let Some(error) = cause {
            if let Some(refused) = error.downcast_ref::<TargetRefused>() {
                return Some(refused);
            }
            cause = error.source();
        }
        None
    }
}

/// An `[net]` setting that cannot be used, by its place in the list (never its value).
#[derive(Debug, thiserror::Error)]
#[error("net.allowed_targets[{0}] is neither a CIDR, an IP address nor a host name")]
pub struct UrlGuardConfigError(usize);

/// What `[net]` allows beyond the public internet.
#[derive(Debug, Default)]
struct Policy {
    allow_private: bool,
    networks: Vec<IpNet>,
    hosts: HashSet<String>,
}

impl Policy {
    /// Whether `ip` may be connected to; the class that refuses it otherwise.
    fn check_ip(&self, ip: IpAddr) -> Result<(), AddressClass> {
        let class = AddressClass::of(ip);
        let listed = || self.networks.iter().any(|net| net.contains(&ip));
        match class {
            AddressClass::Public => Ok(()),
            _ if listed() => Ok(()),
            AddressClass::Metadata => Err(class),
            _ if self.allow_private => Ok(()),
            _ => Err(class),
        }
    }

    /// Whether the host name is allowed whatever it resolves to.
    fn lists_host(&self, host: &str) -> bool {
        self.hosts.contains(&normalize(host))
    }
}

/// A host name as compared: lowercase, without the root's trailing dot.
fn normalize(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// The URL policy of `[net]`; clones share it.
#[derive(Debug, Clone, Default)]
pub struct UrlGuard {
    policy: Arc<Policy>,
}

impl UrlGuard {
    pub fn from_settings(net: &NetSettings) -> Result<Self, UrlGuardConfigError> {
        let mut policy = Policy {
            allow_private: net.allow_private_targets,
            ..Policy::default()
        };
        for (index, target) in net.allowed_targets.iter().enumerate() {
            let target = target.trim();
            if let Ok(net) = target.parse::<IpNet>() {
                policy.networks.push(net);
            } else if let Ok(ip) = target.parse::<IpAddr>() {
                policy.networks.push(IpNet::from(ip));
            } else if matches!(Host::parse(target), Ok(Host::Domain(_))) {
                policy.hosts.insert(normalize(target));
            } else {
                return Err(UrlGuardConfigError(index));
            }
        }
        Ok(Self {
            policy: Arc::new(policy),
        })
    }

    /// Parses `url` and checks it: scheme, and host when it is an address or a metadata name. A
    /// host name that passes is checked again, by what it resolves to, when the call connects.
    pub fn check(&self, url: &str) -> Result<Url, TargetRefused> {
        let url = Url::parse(url)?;
        self.check_url(&url)?;
        Ok(url)
    }

    /// [`UrlGuard::check`] on a parsed URL.
    pub fn check_url(&self, url: &Url) -> Result<(), TargetRefused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TargetRefused::Scheme(url.scheme().to_owned()));
        }
        let refused = |host: String, class| TargetRefused::Address { host, class };
        match url.host().ok_or(TargetRefused::NoHost)? {
            Host::Ipv4(ip) => self
                .policy
                .check_ip(ip.into())
                .map_err(|class| refused(ip.to_string(), class)),
            Host::Ipv6(ip) => self
                .policy
                .check_ip(ip.into())
                .map_err(|class| refused(ip.to_string(), class)),
            Host::Domain(name) => {
                let metadata = METADATA_HOSTS.contains(&normalize(name).as_str());
                if metadata && !self.policy.lists_host(name) {
                    Err(refused(name.to_owned(), AddressClass::Metadata))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Checks `url`, then resolves its host now and checks every address, for an early and
    /// precise answer (when a destination is registered, say); the call is checked again when it
    /// connects, since the name may resolve elsewhere by then.
    pub async fn check_resolved(&self, url: &str) -> Result<Url, TargetRefused> {
        let url = self.check(url)?;
        if let Some(Host::Domain(name)) = url.host() {
            resolve(&self.policy, name).await?;
        }
        Ok(url)
    }

    /// A client builder that resolves through the guard, re-checks redirects and uses no proxy;
    /// add timeouts and the like, then build. Calls must still check their URL first
    /// ([`UrlGuard::check`]), as [`UrlGuard::client`]'s requests do.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        let guard = self.clone();
        reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(GuardedResolver {
                policy: self.policy.clone(),
            })
            .redirect(redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= MAX_REDIRECTS {
                    return attempt.error("too many redirects");
                }
                match guard.check_url(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(refused) => attempt.error(refused),
                }
            }))
    }

    /// A client whose every request, connection and redirect the guard checks.
    pub fn client(&self) -> Result<GuardedClient, reqwest::Error> {
        self.client_from(self.client_builder())
    }

    /// A client from a builder that [`UrlGuard::client_builder`] started.
    pub fn client_from(
        &self,
        builder: reqwest::ClientBuilder,
    ) -> Result<GuardedClient, reqwest::Error> {
        Ok(GuardedClient {
            client: builder.build()?,
            guard: self.clone(),
        })
    }
}

/// An HTTP client for URLs a caller names: requests start only for URLs the guard allows.
#[derive(Clone)]
pub struct GuardedClient {
    client: reqwest::Client,
    guard: UrlGuard,
}

impl GuardedClient {
    /// A request to `url`, once the guard has checked it.
    pub fn request(&self, method: Method, url: &str) -> Result<RequestBuilder, TargetRefused> {
        let url = self.guard.check(url)?;
        Ok(self.client.request(method, url))
    }

    pub fn get(&self, url: &str) -> Result<RequestBuilder, TargetRefused> {
        self.request(Method::GET, url)
    }

    pub fn post(&self, url: &str) -> Result<RequestBuilder, TargetRefused> {
        self.request(Method::POST, url)
    }
}

/// Resolves `host` and keeps the addresses the policy allows; refuses when none is left.
async fn resolve(policy: &Policy, host: &str) -> Result<Vec<SocketAddr>, TargetRefused> {
    let addrs =
        tokio::net::lookup_host((host, 0))
            .await
            .map_err(|e| TargetRefused::Unresolved {
                host: host.to_owned(),
                reason: e.to_string(),
            })?;
    if policy.lists_host(host) {
        return Ok(addrs.collect());
    }
    let mut refused = None;
    let allowed: Vec<SocketAddr> = addrs
        .filter(|addr| {
            policy
                .check_ip(addr.ip())
                .map_err(|class| refused.get_or_insert(class))
                .is_ok()
        })
        .collect();
    match (allowed.is_empty(), refused) {
        (false, _) => Ok(allowed),
        (true, Some(class)) => Err(TargetRefused::Resolved {
            host: host.to_owned(),
            class,
        }),
        (true, None) => Err(TargetRefused::Unresolved {
            host: host.to_owned(),
            reason: "no address".into(),
        }),
    }
}

/// The client's resolver: the addresses connected to are the ones the policy allows.
struct GuardedResolver {
    policy: Arc<Policy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve(&policy, &host).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(allow_private: bool, allowed: &[&str]) -> UrlGuard {
        UrlGuard::from_settings(&NetSettings {
            allow_private_targets: allow_private,
            allowed_targets: allowed.iter().map(|s| (*s).to_owned()).collect(),
        })
        .unwrap()
    }

    fn class_refused(guard: &UrlGuard, url: &str) -> Option<AddressClass> {
        match guard.check(url) {
            Err(TargetRefused::Address { class, .. }) => Some(class),
            Ok(_) => None,
            Err(other) => panic!("{url}: {other}"),
        }
    }

    #[test]
    fn literal_loopback_in_every_spelling_is_refused() {
        let guard = guard(false, &[]);
        for url in [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "https://127.0.0.1:8443/x",
        ] {
            assert_eq!(
                class_refused(&guard, url),
                Some(AddressClass::Loopback),
                "{url}"
            );
        }
    }

    #[test]
    fn schemes_other_than_http_are_refused() {
        let guard = guard(true, &[]);
        for url in ["file:///etc/passwd", "gopher://example.com/", "ftp://x/"] {
            assert!(
                matches!(guard.check(url), Err(TargetRefused::Scheme(_))),
                "{url}"
            );
        }
        assert!(matches!(
            guard.check("not a url"),
            Err(TargetRefused::Invalid(_))
        ));
    }

    #[test]
    fn metadata_stays_refused_unless_listed() {
        let open = guard(true, &[]);
        assert_eq!(
            class_refused(&open, "http://169.254.169.254/latest/meta-data/"),
            Some(AddressClass::Metadata)
        );
        assert_eq!(
            class_refused(
                &open,
                "http://metadata.google.internal./computeMetadata/v1/"
            ),
            Some(AddressClass::Metadata)
        );
        assert_eq!(class_refused(&open, "http://10.0.0.5/"), None);
        let listed = guard(false, &["169.254.169.254/32", "metadata.google.internal"]);
        assert_eq!(class_refused(&listed, "http://169.254.169.254/"), None);
        assert_eq!(
            class_refused(&listed, "http://metadata.google.internal/"),
            None
        );
        assert_eq!(
            class_refused(&listed, "http://169.254.1.1/"),
            Some(AddressClass::LinkLocal)
        );
    }

    #[test]
    fn allowed_networks_let_their_addresses_through() {
        let guard = guard(false, &["10.20.0.0/16", "fd12::1"]);
        assert_eq!(class_refused(&guard, "http://10.20.3.4/"), None);
        assert_eq!(
            class_refused(&guard, "http://10.21.3.4/"),
            Some(AddressClass::Private)
        );
        assert_eq!(class_refused(&guard, "http://[fd12::1]/"), None);
        assert_eq!(class_refused(&guard, "https://example.com/"), None);
    }

    #[test]
    fn an_allowed_target_that_is_nothing_is_a_config_error() {
        let error = UrlGuard::from_settings(&NetSettings {
            allow_private_targets: false,
            allowed_targets: vec!["10.0.0.0/8".into(), "10.0.0.0/33".into()],
        })
        .unwrap_err();
        assert!(error.to_string().contains("allowed_targets[1]"), "{error}");
        assert!(!error.to_string().contains("/33"), "{error}");
    }
}
