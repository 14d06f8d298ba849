//! Where webhook deliveries may connect: a guard against server-side
//! request forgery. A project's API key chooses the URL, so without it any
//! caller could make grantd POST to its loopback ports, the private network
//! or a cloud metadata service, and read reachability off the delivery log.
//!
//! The guard judges the address grantd actually connects to, not the name
//! in the URL: [`GuardedResolver`] resolves names and keeps only permitted
//! addresses, so a name that resolves to a public address when registered
//! and to a private one when delivered (DNS rebinding) gains nothing. IP
//! literals never reach a resolver, so the worker checks them with
//! [`EgressPolicy::check`] before it sends.

use ipnet::{Ipv4Net, Ipv6Net};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::LazyLock;

/// What kind of destination an address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// An ordinary internet address.
    Public,
    /// Loopback, private, link-local, shared, reserved…: inside someone's
    /// network. Refused unless the operator allows private destinations.
    Private(&'static str),
    /// A cloud metadata or platform service, which hands out credentials:
    /// refused even when private destinations are allowed, since no webhook
    /// receiver lives there.
    Metadata,
}

/// IPv4 ranges that are not public, with the name shown in logs.
const PRIVATE_V4: &[(&str, &str)] = &[
    ("0.0.0.0/8", "this network"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared address space (CGNAT)"),
    ("127.0.0.0/8", "loopback"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "6to4 relay anycast"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved or broadcast"),
];

/// IPv4 metadata services. All of IPv4 link-local is here: AWS, GCP, Azure,
/// Oracle and DigitalOcean serve metadata, container credentials (ECS,
/// EKS) and DNS on addresses in 169.254/16, and nothing else lives there.
const METADATA_V4: &[&str] = &[
    "169.254.0.0/16",
    // Alibaba Cloud metadata, inside the CGNAT range.
    "100.100.100.200/32",
    // Azure WireServer, a public address answering only inside Azure.
    "168.63.129.16/32",
    // Oracle Cloud metadata (older endpoint).
    "192.0.0.192/32",
];

/// IPv6 ranges that are not public (the forms that embed an IPv4 address
/// are handled before this table).
const PRIVATE_V6: &[(&str, &str)] = &[
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "local-use NAT64"),
    ("100::/64", "discard-only"),
    ("2001::/32", "Teredo"),
    ("2001:2::/48", "benchmarking"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("fc00::/7", "unique local"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
];

/// IPv6 metadata services: AWS instance metadata and EKS Pod Identity,
/// both inside the unique local range.
const METADATA_V6: &[&str] = &["fd00:ec2::254/128", "fd00:ec2::23/128"];

struct Tables {
    private_v4: Vec<(Ipv4Net, &'static str)>,
    metadata_v4: Vec<Ipv4Net>,
    private_v6: Vec<(Ipv6Net, &'static str)>,
    metadata_v6: Vec<Ipv6Net>,
}

static TABLES: LazyLock<Tables> = LazyLock::new(|| Tables {
    private_v4: PRIVATE_V4
        .iter()
        .map(|(net, name)| (net.parse().expect("valid IPv4 range"), *name))
        .collect(),
    metadata_v4: METADATA_V4
        .iter()
        .map(|net| net.parse().expect("valid IPv4 range"))
        .collect(),
    private_v6: PRIVATE_V6
        .iter()
        .map(|(net, name)| (net.parse().expect("valid IPv6 range"), *name))
        .collect(),
    metadata_v6: METADATA_V6
        .iter()
        .map(|net| net.parse().expect("valid IPv6 range"))
        .collect(),
});

/// Classifies an address by the IANA special-purpose registries and the
/// known metadata endpoints.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let tables = &*TABLES;
    if tables.metadata_v4.iter().any(|net| net.contains(&ip)) {
        return AddressClass::Metadata;
    }
    match tables.private_v4.iter().find(|(net, _)| net.contains(&ip)) {
        Some((_, name)) => AddressClass::Private(name),
        None => AddressClass::Public,
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let tables = &*TABLES;
    let [a, b, c, d, e, f, g, h] = ip.segments();
    let low_v4 = Ipv4Addr::from((u32::from(g) << 16) | u32::from(h));
    // Forms that reach an IPv4 address: judged by that address, so that
    // ::ffff:127.0.0.1 is loopback and 64:ff9b::8.8.8.8 (a NAT64 gateway's
    // way to a public host) is public.
    match (a, b, c, d, e, f) {
        // IPv4-mapped, ::ffff:a.b.c.d: a dual-stack socket connects over IPv4.
        (0, 0, 0, 0, 0, 0xffff) => return classify_v4(low_v4),
        // IPv4-translated (SIIT), ::ffff:0:a.b.c.d.
        (0, 0, 0, 0, 0xffff, 0) => return classify_v4(low_v4),
        // NAT64 well-known prefix, 64:ff9b::a.b.c.d: the gateway connects
        // to the embedded address.
        (0x64, 0xff9b, 0, 0, 0, 0) => return classify_v4(low_v4),
        // IPv4-compatible, ::a.b.c.d (deprecated): never a destination; the
        // embedded address decides only whether it is a metadata service.
        (0, 0, 0, 0, 0, 0) if u32::from(low_v4) > 1 => {
            return match classify_v4(low_v4) {
                AddressClass::Metadata => AddressClass::Metadata,
                _ => AddressClass::Private("IPv4-compatible"),
            };
        }
        _ => {}
    }
    // 6to4, 2002:a.b.c.d::/48: relayed to the embedded address.
    if a == 0x2002 {
        let embedded = Ipv4Addr::from((u32::from(b) << 16) | u32::from(c));
        return classify_v4(embedded);
    }
    if tables.metadata_v6.iter().any(|net| net.contains(&ip)) {
        return AddressClass::Metadata;
    }
    match tables.private_v6.iter().find(|(net, _)| net.contains(&ip)) {
        Some((_, name)) => AddressClass::Private(name),
        None => AddressClass::Public,
    }
}

/// Which destinations deliveries may connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EgressPolicy {
    /// Allow loopback, private and other non-public addresses (never
    /// metadata services): for receivers on the operator's own network.
    pub allow_private: bool,
}

impl EgressPolicy {
    /// Whether a delivery may connect to `ip`; the refusal says why.
    pub fn check(self, ip: IpAddr) -> Result<(), AddressRefused> {
        match classify(ip) {
            AddressClass::Public => Ok(()),
            AddressClass::Private(_) if self.allow_private => Ok(()),
            class => Err(AddressRefused { ip, class }),
        }
    }
}

/// A destination address the policy refuses. Its text names the address,
/// so it is for grantd's own log, never for the delivery log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressRefused {
    pub ip: IpAddr,
    pub class: AddressClass,
}

impl fmt::Display for AddressRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.class {
            AddressClass::Metadata => write!(f, "{} is a cloud metadata address", self.ip),
            AddressClass::Private(name) => {
                write!(f, "{} is not a public address ({name})", self.ip)
            }
            AddressClass::Public => write!(f, "{} is refused", self.ip),
        }
    }
}

impl std::error::Error for AddressRefused {}

/// A name that did not resolve.
#[derive(Debug)]
pub struct DnsFailed(pub std::io::Error);

impl fmt::Display for DnsFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "name resolution failed: {}", self.0)
    }
}

impl std::error::Error for DnsFailed {}

/// The delivery client's resolver: the system's (`getaddrinfo`), keeping
/// only the addresses the policy permits. Connections go only to the
/// addresses returned here, so the check holds at connect time.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub policy: EgressPolicy,
}

impl GuardedResolver {
    /// The permitted addresses of `host`; an error when it does not resolve,
    /// or resolves only to refused addresses.
    pub async fn lookup(
        self,
        host: &str,
    ) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
        let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
            .await
            .map_err(DnsFailed)?
            .collect();
        let mut refused = None;
        let permitted: Vec<SocketAddr> = resolved
            .into_iter()
            .filter(|addr| match self.policy.check(addr.ip()) {
                Ok(()) => true,
                Err(refusal) => {
                    refused.get_or_insert(refusal);
                    false
                }
            })
            .collect();
        match (permitted.is_empty(), refused) {
            (false, _) => Ok(permitted),
            (true, Some(refusal)) => Err(refusal.into()),
            (true, None) => Err(DnsFailed(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no addresses",
            ))
            .into()),
        }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = *self;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolver.lookup(&host).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(ip: &str) -> AddressClass {
        classify(ip.parse().unwrap())
    }

    #[test]
    fn public_addresses_are_public() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "169.253.255.255",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "::ffff:0:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2002:808:808::1",
            "2001:db9::1",
        ] {
            assert_eq!(class(ip), AddressClass::Public, "{ip}");
        }
    }

    #[test]
    fn non_public_ranges_are_private() {
        for (ip, name) in [
            ("0.0.0.0", "this network"),
            ("0.1.2.3", "this network"),
            ("10.0.0.1", "private"),
            ("10.255.255.255", "private"),
            ("100.64.0.1", "shared address space (CGNAT)"),
            ("100.127.255.254", "shared address space (CGNAT)"),
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.0.0.8", "IETF protocol assignments"),
            ("192.0.2.1", "documentation"),
            ("192.88.99.1", "6to4 relay anycast"),
            ("192.168.1.1", "private"),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved or broadcast"),
            ("255.255.255.255", "reserved or broadcast"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("fc00::1", "unique local"),
            ("fdff:ffff::1", "unique local"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
            ("2001:db8::1", "documentation"),
            ("3fff::1", "documentation"),
            ("2001::1", "Teredo"),
            ("2001:2::1", "benchmarking"),
            ("100::1", "discard-only"),
            ("64:ff9b:1::a00:1", "local-use NAT64"),
        ] {
            assert_eq!(class(ip), AddressClass::Private(name), "{ip}");
        }
    }

    #[test]
    fn ipv6_forms_of_ipv4_addresses_are_judged_by_the_ipv4_address() {
        for (ip, expected) in [
            ("::ffff:127.0.0.1", AddressClass::Private("loopback")),
            ("::ffff:7f00:1", AddressClass::Private("loopback")),
            ("::ffff:10.0.0.1", AddressClass::Private("private")),
            ("::ffff:192.168.0.1", AddressClass::Private("private")),
            ("::ffff:0.0.0.0", AddressClass::Private("this network")),
            ("::ffff:169.254.169.254", AddressClass::Metadata),
            ("::ffff:0:127.0.0.1", AddressClass::Private("loopback")),
            ("64:ff9b::127.0.0.1", AddressClass::Private("loopback")),
            ("64:ff9b::10.1.2.3", AddressClass::Private("private")),
            ("64:ff9b::169.254.169.254", AddressClass::Metadata),
            ("2002:7f00:1::", AddressClass::Private("loopback")),
            ("2002:a9fe:a9fe::1", AddressClass::Metadata),
            ("::127.0.0.1", AddressClass::Private("IPv4-compatible")),
            ("::8.8.8.8", AddressClass::Private("IPv4-compatible")),
            ("::169.254.169.254", AddressClass::Metadata),
        ] {
            assert_eq!(class(ip), expected, "{ip}");
        }
    }

    #[test]
    fn metadata_services_are_metadata() {
        for ip in [
            "169.254.169.254",
            "169.254.170.2",
            "169.254.0.1",
            "100.100.100.200",
            "168.63.129.16",
            "192.0.0.192",
            "fd00:ec2::254",
            "fd00:ec2::23",
        ] {
            assert_eq!(class(ip), AddressClass::Metadata, "{ip}");
        }
    }

    #[test]
    fn the_opt_in_allows_private_addresses_but_never_metadata_services() {
        let strict = EgressPolicy {
            allow_private: false,
        };
        let open = EgressPolicy {
            allow_private: true,
        };
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(strict.check(ip("8.8.8.8")).is_ok());
        assert!(strict.check(ip("127.0.0.1")).is_err());
        assert!(strict.check(ip("::ffff:10.0.0.1")).is_err());
        assert!(open.check(ip("127.0.0.1")).is_ok());
        assert!(open.check(ip("::1")).is_ok());
        assert!(open.check(ip("10.0.0.1")).is_ok());
        for metadata in ["169.254.169.254", "fd00:ec2::254", "100.100.100.200"] {
            assert!(open.check(ip(metadata)).is_err(), "{metadata}");
        }
        let refusal = strict.check(ip("10.0.0.1")).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "10.0.0.1 is not a public address (private)"
        );
    }

    #[tokio::test]
    async fn the_resolver_drops_refused_addresses_and_fails_when_none_remain() {
        let strict = GuardedResolver {
            policy: EgressPolicy {
                allow_private: false,
            },
        };
        let error = strict.lookup("localhost").await.unwrap_err();
        assert!(error.is::<AddressRefused>(), "{error}");
        let open = GuardedResolver {
            policy: EgressPolicy {
                allow_private: true,
            },
        };
        let addrs = open.lookup("localhost").await.unwrap();
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
