//! The SSRF guard. Every URL genrelay fetches or calls because a client named it (an input image
//! URL, a webhook URL) goes through an [`Egress`] client:
//!
//! - only `http` and `https` URLs, without credentials in them;
//! - calls (webhooks) never follow redirects (the caller sees the 3xx); fetches (input files)
//!   follow at most [`MAX_REDIRECTS`], each hop checked like the first;
//! - the address is checked when the connection is made, after DNS resolution, so a name that
//!   resolves to a public address once and to an internal one later (DNS rebinding) is refused
//!   the second time: loopback, private, shared (CGNAT), link-local (the cloud metadata service at
//!   169.254.169.254), unspecified, broadcast, multicast, documentation and reserved ranges, in
//!   IPv4, IPv6 and IPv4-mapped or -compatible IPv6 forms.
//!
//! `Egress::allow_private()` lifts the address check (and allows plain `http` where a caller
//! requires https) for local testing only; the dev server enables it by flag.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

/// Why a URL was refused. The text names the host and the class of address, never a path or
/// query (which may carry a token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{0}: only http and https URLs are allowed")]
    Scheme(String),
    #[error("the URL must use https")]
    NotHttps,
    #[error("URLs with credentials in them are not allowed")]
    Credentials,
    #[error("the URL has no host")]
    NoHost,
    #[error("{host} is a {class} address, which genrelay does not call")]
    Internal { host: String, class: &'static str },
    #[error("{0} does not resolve")]
    Unresolved(String),
}

/// How many redirects a fetch follows.
pub const MAX_REDIRECTS: usize = 5;

/// The policy and the clients that enforce it. The clients are built on first use (each loads
/// the system's root certificates, which takes milliseconds), so a function that never calls
/// out does not pay for them at init; clones share them.
#[derive(Clone)]
pub struct Egress {
    allow_private: bool,
    clients: Arc<OnceLock<Clients>>,
}

struct Clients {
    /// Never follows redirects.
    call: reqwest::Client,
    /// Follows checked redirects.
    fetch: reqwest::Client,
}

/// A reqwest client builder with genrelay's TLS: rustls on *ring* (a fraction of aws-lc's size
/// in every binary), made the process's crypto provider on first use. Every HTTP client
/// genrelay builds, and every one its tests build, starts here: reqwest has no provider of its
/// own in this build.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    PROVIDER.call_once(|| {
        // Refused only when a provider is already installed, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
}

impl Egress {
    /// The production policy: public addresses only.
    pub fn public_only() -> Self {
        Self { allow_private: false, clients: Arc::default() }
    }

    /// For local testing: private and loopback addresses and plain http are allowed.
    pub fn allow_private() -> Self {
        Self { allow_private: true, clients: Arc::default() }
    }

    fn clients(&self) -> &Clients {
        self.clients.get_or_init(|| Clients {
            call: self.guarded_client(reqwest::redirect::Policy::none()),
            fetch: self.guarded_client(self.checked_redirects()),
        })
    }

    /// A client whose every connection goes through the address check, following `redirects`.
    fn guarded_client(&self, redirects: reqwest::redirect::Policy) -> reqwest::Client {
        http_client_builder()
            .redirect(redirects)
            // A proxy would resolve names itself, past the guard.
            .no_proxy()
            .dns_resolver(GuardedResolver { allow_private: self.allow_private })
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(Duration::from_secs(60))
            .build()
            .expect("the HTTP client builds")
    }

    /// Follows at most [`MAX_REDIRECTS`], each hop checked as the first was (a name, when it
    /// resolves).
    fn checked_redirects(&self) -> reqwest::redirect::Policy {
        // The policy's own copy, without clients.
        let hop_check = Self { allow_private: self.allow_private, clients: Arc::default() };
        reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else if let Err(refused) = hop_check.check(attempt.url()) {
                attempt.error(refused)
            } else {
                attempt.follow()
            }
        })
    }

    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// Checks what can be checked without the network: scheme, credentials, and a host given as
    /// an address. (A host name is checked when it resolves, at every connection.)
    pub fn check(&self, url: &Url) -> Result<(), Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused::Scheme(url.scheme().to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refused::Credentials);
        }
        let literal = match url.host().ok_or(Refused::NoHost)? {
            url::Host::Ipv4(ip) => IpAddr::V4(ip),
            url::Host::Ipv6(ip) => IpAddr::V6(ip),
            url::Host::Domain(_) => return Ok(()),
        };
        match (self.allow_private, internal_class(literal)) {
            (false, Some(class)) => Err(Refused::Internal { host: literal.to_string(), class }),
            _ => Ok(()),
        }
    }

    /// [`check`](Self::check), and https unless private addresses are allowed (webhooks).
    pub fn check_https(&self, url: &Url) -> Result<(), Refused> {
        self.check(url)?;
        if url.scheme() != "https" && !self.allow_private {
            return Err(Refused::NotHttps);
        }
        Ok(())
    }

    /// A call to `url` (redirects not followed), once it passes [`check`](Self::check). The
    /// connection re-checks the resolved address.
    pub fn call(&self, method: reqwest::Method, url: &Url) -> Result<reqwest::RequestBuilder, Refused> {
        self.check(url)?;
        Ok(self.clients().call.request(method, url.clone()))
    }

    /// A GET of `url` that follows checked redirects.
    pub fn fetch(&self, url: &Url) -> Result<reqwest::RequestBuilder, Refused> {
        self.check(url)?;
        Ok(self.clients().fetch.get(url.clone()))
    }

    /// Why a request failed, when the guard refused its connection.
    pub fn refusal_of(error: &reqwest::Error) -> Option<Refused> {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(current) = source {
            if let Some(refused) = current.downcast_ref::<Refused>() {
                return Some(refused.clone());
            }
            source = current.source();
        }
        None
    }
}

/// Resolves like the system does, then refuses the name if any of its addresses is internal.
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| Box::new(Refused::Unresolved(host.clone())) as Box<dyn std::error::Error + Send + Sync>)?
                .collect();
            if addrs.is_empty() {
                return Err(Box::new(Refused::Unresolved(host)) as _);
            }
            let internal = addrs.iter().find_map(|addr| internal_class(addr.ip()));
            if let (false, Some(class)) = (allow_private, internal) {
                return Err(Box::new(Refused::Internal { host, class }) as _);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The class of an address genrelay never calls on a client's behalf, or `None` for a public one.
pub fn internal_class(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => v4_class(ip),
        IpAddr::V6(ip) => v6_class(ip),
    }
}

fn v4_class(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match () {
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_private() => "private",
        _ if ip.is_link_local() => "link-local",
        _ if ip.is_unspecified() || a == 0 => "unspecified",
        _ if ip.is_broadcast() => "broadcast",
        _ if ip.is_multicast() => "multicast",
        _ if ip.is_documentation() => "documentation",
        _ if a == 100 && (64..128).contains(&b) => "shared (carrier-grade NAT)",
        _ if a == 192 && b == 0 && c == 0 => "IETF protocol",
        _ if a == 198 && (18..20).contains(&b) => "benchmarking",
        _ if a >= 240 => "reserved",
        _ => return None,
    })
}

fn v6_class(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_class(v4);
    }
    let segments = ip.segments();
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96) forms embed an IPv4 address.
    let embedded =
        Ipv4Addr::new((segments[6] >> 8) as u8, segments[6] as u8, (segments[7] >> 8) as u8, segments[7] as u8);
    Some(match () {
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_unspecified() => "unspecified",
        _ if segments[..6] == [0; 6] => return v4_class(embedded).or(Some("IPv4-compatible")),
        _ if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] => return v4_class(embedded),
        _ if ip.is_unique_local() => "private",
        _ if ip.is_unicast_link_local() => "link-local",
        _ if ip.is_multicast() => "multicast",
        _ if segments[0] == 0x2001 && segments[1] == 0x0db8 => "documentation",
        _ if segments[0] & 0xffc0 == 0xfec0 => "site-local",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(address: &str) -> Option<&'static str> {
        internal_class(address.parse().unwrap())
    }

    #[test]
    fn every_internal_class_is_refused() {
        for (address, expected) in [
            ("127.0.0.1", "loopback"),
            ("127.9.9.9", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("0.0.0.0", "unspecified"),
            ("255.255.255.255", "broadcast"),
            ("224.0.0.1", "multicast"),
            ("100.64.0.1", "shared (carrier-grade NAT)"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fd00::1", "private"),
            ("fe80::1", "link-local"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:10.0.0.1", "private"),
            ("::127.0.0.1", "loopback"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
            ("ff02::1", "multicast"),
        ] {
            assert_eq!(class(address), Some(expected), "{address}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for address in ["93.184.215.14", "8.8.8.8", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert_eq!(class(address), None, "{address}");
        }
    }

    #[test]
    fn urls_are_checked_before_any_connection() {
        let egress = Egress::public_only();
        let check = |url: &str| egress.check(&Url::parse(url).unwrap());
        assert_eq!(check("ftp://example.com/a"), Err(Refused::Scheme("ftp".into())));
        assert_eq!(check("file:///etc/passwd"), Err(Refused::Scheme("file".into())));
        assert_eq!(check("https://user:pw@example.com/"), Err(Refused::Credentials));
        assert!(matches!(check("http://169.254.169.254/latest/meta-data/"), Err(Refused::Internal { .. })));
        assert!(matches!(check("http://[::ffff:7f00:1]/"), Err(Refused::Internal { .. })));
        assert!(matches!(check("http://2130706433/"), Err(Refused::Internal { .. })), "decimal IPv4 form");
        assert_eq!(check("https://example.com/a.png"), Ok(()));
        assert_eq!(egress.check_https(&Url::parse("http://example.com/").unwrap()), Err(Refused::NotHttps));
        assert_eq!(Egress::allow_private().check_https(&Url::parse("http://127.0.0.1:9/").unwrap()), Ok(()));
    }

    #[tokio::test]
    async fn names_are_checked_when_they_resolve() {
        let egress = Egress::public_only();
        let request = egress.fetch(&Url::parse("http://localhost:9/x").unwrap()).unwrap();
        let error = request.send().await.unwrap_err();
        assert_eq!(Egress::refusal_of(&error), Some(Refused::Internal { host: "localhost".into(), class: "loopback" }));
    }

    /// A loopback server answering every request with a redirect to `location`.
    async fn redirecting_to(location: String) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request).await;
                let answer = format!(
                    "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        format!("http://{address}/photo.png")
    }

    /// A redirect from an allowed address to an internal one is refused before its hop
    /// connects: an address in any of its forms by the redirect policy, a name resolving
    /// inside by the resolver. (The first hop here is on loopback, reached by the fetch client
    /// directly: `fetch` would refuse it before that.)
    #[tokio::test]
    async fn redirects_to_inside_are_refused_before_they_connect() {
        let inside = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = inside.local_addr().unwrap().port();
        let reached = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = reached.clone();
        tokio::spawn(async move {
            while inside.accept().await.is_ok() {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        let egress = Egress::public_only();
        let fetch = egress.guarded_client(egress.checked_redirects());
        let targets = [
            (format!("http://127.0.0.1:{port}/"), "loopback"),
            (format!("http://2130706433:{port}/"), "loopback"),
            (format!("http://[::ffff:127.0.0.1]:{port}/"), "loopback"),
            ("http://169.254.169.254/latest/meta-data/".to_owned(), "link-local"),
            (format!("http://localhost:{port}/"), "loopback"),
        ];
        for (target, class) in targets {
            let error = fetch.get(redirecting_to(target.clone()).await).send().await.unwrap_err();
            let refused = Egress::refusal_of(&error);
            assert!(matches!(refused, Some(Refused::Internal { class: c, .. }) if c == class), "{target}: {refused:?}");
        }
        // Not http(s): never followed, the redirect itself is the answer (not a success).
        let answer = fetch.get(redirecting_to("file:///etc/passwd".into()).await).send().await.unwrap();
        assert_eq!(answer.status(), reqwest::StatusCode::FOUND);
        assert_eq!(reached.load(std::sync::atomic::Ordering::SeqCst), 0, "no hop reached inside");
    }
}
