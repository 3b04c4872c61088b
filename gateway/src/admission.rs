//! Who may open a socket at all, decided at the handshake before any event
//! can flow: the `Origin` allow-list (against cross-site WebSocket
//! hijacking), a per-IP connection limit (so one host cannot exhaust the
//! gateway), with the client's address taken from `X-Forwarded-For` only
//! when the peer is a trusted proxy, and a limit on all connections at once
//! (so that the gateway never runs out of file descriptors).

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, HeaderName};
use ipnet::IpNet;

/// Where trusted proxies connect from: one address (`127.0.0.1`) or a
/// range (`10.0.0.0/8`, `fd00::/8`), for a pool of load balancers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proxies(IpNet);

impl Proxies {
    fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip)
    }
}

impl FromStr for Proxies {
    type Err = String;

    fn from_str(s: &str) -> Result<Proxies, String> {
        let s = s.trim();
        s.parse::<IpNet>()
            .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
            .map(Proxies)
            .map_err(|_| format!("not an IP address or CIDR range: {s:?}"))
    }
}

impl fmt::Display for Proxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> serde::Deserialize<'de> for Proxies {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Proxies, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

pub struct Admission {
    allowed_origins: Vec<String>,
    trusted_proxies: Vec<Proxies>,
    per_ip: usize,
    /// Most TCP connections open at once (0: no limit).
    max_connections: usize,
    /// TCP connections open now: accepted and not yet closed, upgraded or not.
    open: AtomicUsize,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One TCP connection's share of the limits, held from accept until the
/// connection closes (it moves into the client when the upgrade completes):
/// one of `--max-connections`, and, once the client's address is known, one
/// of that address's `--max-connections-per-ip`. Dropping it frees both.
pub struct Slot {
    admission: Arc<Admission>,
    /// The address this slot counts against, if it does.
    ip: Option<IpAddr>,
}

/// Why a new connection gets no [`Slot`].
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Every one of `--max-connections` is taken.
    Full,
    /// Its address holds `--max-connections-per-ip` already.
    PerIp,
}

impl Admission {
    /// `per_ip` and `max_connections` 0 mean no limit; an empty
    /// `allowed_origins`, any origin.
    pub fn new(
        allowed_origins: Vec<String>,
        trusted_proxies: Vec<Proxies>,
        per_ip: usize,
        max_connections: usize,
    ) -> Admission {
        let allowed_origins =
            allowed_origins.into_iter().map(|o| o.trim_end_matches('/').to_ascii_lowercase()).collect();
        Admission {
            allowed_origins,
            trusted_proxies,
            per_ip,
            max_connections,
            open: AtomicUsize::new(0),
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Browsers always send `Origin` on a WebSocket handshake; a request
    /// without one is not from a web page, so there is nothing to hijack.
    pub fn origin_allowed(&self, headers: &HeaderMap) -> bool {
        if self.allowed_origins.is_empty() {
            return true;
        }
        match headers.get(axum::http::header::ORIGIN).map(|v| v.to_str()) {
            None => true,
            Some(Ok(origin)) => self.allowed_origins.iter().any(|o| o.eq_ignore_ascii_case(origin)),
            Some(Err(_)) => false,
        }
    }

    /// Whether `ip` is one of `--trusted-proxies`.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted_proxies.iter().any(|proxies| proxies.contains(ip))
    }

    /// The client's address: the peer, or, behind trusted proxies, the
    /// first address in `X-Forwarded-For` that is not one of them, counted
    /// from the right. Each proxy appends the address it got the request
    /// from, so the entries right of the first untrusted one were written by
    /// proxies we trust, and everything left of it by someone we do not
    /// (the client may send any `X-Forwarded-For` it likes). An unreadable
    /// entry ends the walk at the last address a trusted proxy vouched for:
    /// never at an entry further left, which the client could have forged.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        // An IPv4 peer on a dual-stack socket shows as `::ffff:a.b.c.d`.
        let mut known = peer.to_canonical();
        if !self.trusts(known) {
            return known;
        }
        for line in headers.get_all(HeaderName::from_static("x-forwarded-for")).iter().rev() {
            let Ok(line) = line.to_str() else {
                return known; // a whole line unreadable: as good as an unreadable entry
            };
            for entry in line.split(',').rev() {
                let Ok(ip) = entry.trim().parse::<IpAddr>().map(|ip| ip.to_canonical()) else {
                    return known;
                };
                known = ip;
                if !self.trusts(ip) {
                    return known;
                }
            }
        }
        known
    }

    /// A new TCP connection from `peer`: takes one of `--max-connections`,
    /// and, unless `peer` is a trusted proxy (whose clients are known only
    /// from their requests, see [`Admission::count`]), one of `peer`'s
    /// sockets. Counting from accept, not from the upgrade, is what keeps
    /// one host from holding descriptors with sockets that never send a byte.
    pub fn connect(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Refused> {
        let open = self.open.fetch_add(1, Ordering::Relaxed);
        // Built at once, so that an early return frees what it took.
        let mut slot = Slot { admission: self.clone(), ip: None };
        if self.max_connections > 0 && open >= self.max_connections {
            return Err(Refused::Full);
        }
        let peer = peer.to_canonical();
        if !self.trusts(peer) && !self.count(&mut slot, peer) {
            return Err(Refused::PerIp);
        }
        Ok(slot)
    }

    /// Makes `slot` count against `ip` (the client's address, known at the
    /// handshake); `false` when `ip` holds its limit already.
    pub fn count(&self, slot: &mut Slot, ip: IpAddr) -> bool {
        if slot.ip == Some(ip) {
            return true;
        }
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(ip).or_insert(0);
        if self.per_ip > 0 && *count >= self.per_ip {
            return false;
        }
        *count += 1;
        if let Some(old) = slot.ip.replace(ip) {
            release(&mut counts, old);
        }
        true
    }

    /// TCP connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
}

fn release(counts: &mut HashMap<IpAddr, usize>, ip: IpAddr) {
    if let Some(count) = counts.get_mut(&ip) {
        *count -= 1;
        if *count == 0 {
            counts.remove(&ip);
        }
    }
}

impl Slot {
    /// Whether this connection counts against an address's limit: `false`
    /// for a connection from a trusted proxy before its handshake.
    pub fn counted(&self) -> bool {
        self.ip.is_some()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(ip) = self.ip {
            release(&mut self.admission.counts.lock().unwrap_or_else(|p| p.into_inner()), ip);
        }
        self.admission.open.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", value.parse().unwrap());
        h
    }

    #[test]
    fn per_ip_slots_are_counted_from_accept_and_freed() {
        let a = Arc::new(Admission::new(vec![], vec![], 2, 0));
        let s1 = a.connect(ip("10.0.0.1")).unwrap();
        let s2 = a.connect(ip("10.0.0.1")).unwrap();
        assert!(s1.counted() && s2.counted());
        assert_eq!(a.connect(ip("10.0.0.1")).err(), Some(Refused::PerIp));
        assert_eq!(
            a.connect(ip("::ffff:10.0.0.1")).err(),
            Some(Refused::PerIp),
            "an IPv4-mapped peer is the same address"
        );
        assert_eq!(a.open(), 2, "a refused connection holds nothing");
        assert!(a.connect(ip("10.0.0.2")).unwrap().counted(), "another address is not limited by it");
        drop(s1);
        let s3 = a.connect(ip("10.0.0.1")).expect("a freed socket can be taken");
        drop((s2, s3));
        assert!(a.counts.lock().unwrap().is_empty(), "every count is released");
        assert_eq!(a.open(), 0);
    }

    #[test]
    fn all_connections_are_limited_together() {
        let a = Arc::new(Admission::new(vec![], vec![], 0, 2));
        let s1 = a.connect(ip("10.0.0.1")).unwrap();
        let _s2 = a.connect(ip("10.0.0.2")).unwrap();
        assert_eq!(a.connect(ip("10.0.0.3")).err(), Some(Refused::Full));
        assert_eq!(a.open(), 2, "a refused connection takes nothing");
        drop(s1);
        assert!(a.connect(ip("10.0.0.3")).is_ok());
        let unlimited = Arc::new(Admission::new(vec![], vec![], 0, 0));
        let held: Vec<_> = (0..1000).map(|_| unlimited.connect(ip("10.0.0.1")).unwrap()).collect();
        assert_eq!(unlimited.open(), held.len());
    }

    #[test]
    fn a_trusted_proxy_is_counted_at_the_handshake_under_the_client_address() {
        let a = Arc::new(Admission::new(vec![], vec!["127.0.0.1".parse().unwrap()], 1, 0));
        let mut first = a.connect(ip("127.0.0.1")).unwrap();
        let mut second = a.connect(ip("127.0.0.1")).unwrap();
        assert!(!first.counted() && !second.counted(), "the proxy itself is not limited");
        assert!(a.count(&mut first, ip("5.6.7.8")));
        assert!(!a.count(&mut second, ip("5.6.7.8")), "the client is");
        assert!(a.count(&mut second, ip("5.6.7.9")));
    }

    #[test]
    fn proxies_are_addresses_or_ranges() {
        let a = Admission::new(vec![], vec!["127.0.0.1".parse().unwrap(), "10.1.0.0/16".parse().unwrap()], 0, 0);
        let h = xff("5.6.7.8");
        let client = ip("5.6.7.8");
        for proxy in ["127.0.0.1", "::ffff:127.0.0.1", "10.1.0.1", "10.1.255.254"] {
            assert_eq!(a.client_ip(ip(proxy), &h), client, "{proxy} is trusted");
        }
        for stranger in ["127.0.0.2", "10.2.0.1", "::1"] {
            assert_eq!(a.client_ip(ip(stranger), &h), ip(stranger), "{stranger} is not trusted");
        }
        assert_eq!("fd00::/8".parse::<Proxies>().map(|p| p.to_string()), Ok("fd00::/8".to_string()));
        for bad in ["", "10.0.0.0/33", "localhost", "10.0.0.1/8/2"] {
            assert!(bad.parse::<Proxies>().is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn origins_and_forwarded_addresses() {
        let proxy = ip("127.0.0.1");
        let a = Admission::new(vec!["https://wiki.example.org/".into()], vec!["127.0.0.1".parse().unwrap()], 0, 0);
        let mut h = HeaderMap::new();
        assert!(a.origin_allowed(&h));
        h.insert("origin", "https://WIKI.example.org".parse().unwrap());
        assert!(a.origin_allowed(&h));
        h.insert("origin", "https://evil.example".parse().unwrap());
        assert!(!a.origin_allowed(&h));
        assert_eq!(a.client_ip(proxy, &xff("1.2.3.4, 5.6.7.8")), ip("5.6.7.8"));
        let stranger = ip("9.9.9.9");
        assert_eq!(
            a.client_ip(stranger, &xff("1.2.3.4, 5.6.7.8")),
            stranger,
            "only trusted proxies may say who the client is"
        );
        assert_eq!(
            a.client_ip(proxy, &xff("1.2.3.4, garbage")),
            proxy,
            "an unreadable last entry never falls back to a forgeable one"
        );
        assert_eq!(a.client_ip(proxy, &HeaderMap::new()), proxy, "no header: the proxy is all we know");
    }

    /// A CDN in front of nginx: both trusted, so the client is the first
    /// address from the right that is neither, whatever the client put
    /// further left.
    #[test]
    fn forwarded_for_is_walked_from_the_right_past_every_trusted_proxy() {
        let nginx = ip("127.0.0.1");
        let a = Admission::new(vec![], vec!["127.0.0.1".parse().unwrap(), "203.0.113.0/24".parse().unwrap()], 0, 0);
        // client 198.51.100.7 → CDN 203.0.113.5 → nginx → gateway
        assert_eq!(a.client_ip(nginx, &xff("198.51.100.7, 203.0.113.5")), ip("198.51.100.7"));
        assert_eq!(
            a.client_ip(nginx, &xff("6.6.6.6, 198.51.100.7, 203.0.113.5")),
            ip("198.51.100.7"),
            "forged entries stay unread"
        );
        // The same list in several header lines, with IPv4-mapped entries.
        let mut lines = HeaderMap::new();
        lines.append("x-forwarded-for", "6.6.6.6, 198.51.100.7".parse().unwrap());
        lines.append("x-forwarded-for", "::ffff:203.0.113.5".parse().unwrap());
        assert_eq!(a.client_ip(nginx, &lines), ip("198.51.100.7"));
        // A line that is not even text stops the walk like an unreadable entry.
        let mut junk = HeaderMap::new();
        junk.append("x-forwarded-for", "6.6.6.6".parse().unwrap());
        junk.append("x-forwarded-for", HeaderValue::from_bytes(b"\xff").unwrap());
        junk.append("x-forwarded-for", "203.0.113.5".parse().unwrap());
        assert_eq!(a.client_ip(nginx, &junk), ip("203.0.113.5"));
        // An unreadable entry: the CDN's own address is the last one a trusted proxy vouched for.
        assert_eq!(a.client_ip(nginx, &xff("6.6.6.6, not-an-ip, 203.0.113.5")), ip("203.0.113.5"));
        assert_eq!(
            a.client_ip(nginx, &xff("6.6.6.6, , 203.0.113.5")),
            ip("203.0.113.5"),
            "an empty entry is unreadable"
        );
        // Only trusted proxies all the way: the leftmost of them is what we know.
        assert_eq!(a.client_ip(nginx, &xff("203.0.113.9, 203.0.113.5")), ip("203.0.113.9"));
        // IPv6 clients.
        assert_eq!(a.client_ip(nginx, &xff("2001:db8::1, 203.0.113.5")), ip("2001:db8::1"));
    }
}
