//! Who may open a socket at all, decided at the handshake before any event
//! can flow: the `Origin` allow-list (against cross-site WebSocket
//! hijacking) and a per-IP connection limit (so one host cannot exhaust the
//! gateway), with the client's address taken from `X-Forwarded-For` only
//! when the peer is a trusted proxy.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
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
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// A held connection slot; dropping it frees the slot.
pub struct Slot {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Admission {
    /// `per_ip` 0 means no limit; an empty `allowed_origins`, any origin.
    pub fn new(allowed_origins: Vec<String>, trusted_proxies: Vec<Proxies>, per_ip: usize) -> Admission {
        let allowed_origins =
            allowed_origins.into_iter().map(|o| o.trim_end_matches('/').to_ascii_lowercase()).collect();
        Admission { allowed_origins, trusted_proxies, per_ip, counts: Mutex::new(HashMap::new()) }
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

    /// The client's address: the peer, or, behind a trusted proxy, the
    /// address the proxy appended last to `X-Forwarded-For`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        // An IPv4 peer on a dual-stack socket shows as `::ffff:a.b.c.d`.
        let peer = peer.to_canonical();
        if !self.trusted_proxies.iter().any(|proxies| proxies.contains(peer)) {
            return peer;
        }
        // Only the very last entry: everything before it came from the
        // client and may be forged. If it is unreadable, the proxy is all we know.
        headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.to_str().unwrap_or(""))
            .flat_map(|v| v.split(','))
            .next_back()
            .and_then(|ip| ip.trim().parse().ok())
            .unwrap_or(peer)
    }

    /// Takes a slot for `ip`, or `None` when it holds its limit already.
    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(ip).or_insert(0);
        if self.per_ip > 0 && *count >= self.per_ip {
            return None;
        }
        *count += 1;
        Some(Slot { admission: self.clone(), ip })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.admission.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_slots_are_counted_and_freed() {
        let a = Arc::new(Admission::new(vec![], vec![], 2));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let s1 = a.acquire(ip).unwrap();
        let _s2 = a.acquire(ip).unwrap();
        assert!(a.acquire(ip).is_none());
        assert!(a.acquire("10.0.0.2".parse().unwrap()).is_some());
        drop(s1);
        assert!(a.acquire(ip).is_some());
    }

    #[test]
    fn proxies_are_addresses_or_ranges() {
        let a = Admission::new(vec![], vec!["127.0.0.1".parse().unwrap(), "10.1.0.0/16".parse().unwrap()], 0);
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "5.6.7.8".parse().unwrap());
        let client: IpAddr = "5.6.7.8".parse().unwrap();
        for proxy in ["127.0.0.1", "::ffff:127.0.0.1", "10.1.0.1", "10.1.255.254"] {
            assert_eq!(a.client_ip(proxy.parse().unwrap(), &h), client, "{proxy} is trusted");
        }
        for stranger in ["127.0.0.2", "10.2.0.1", "::1"] {
            let ip: IpAddr = stranger.parse().unwrap();
            assert_eq!(a.client_ip(ip, &h), ip, "{stranger} is not trusted");
        }
        assert_eq!("fd00::/8".parse::<Proxies>().map(|p| p.to_string()), Ok("fd00::/8".to_string()));
        for bad in ["", "10.0.0.0/33", "localhost", "10.0.0.1/8/2"] {
            assert!(bad.parse::<Proxies>().is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn origins_and_forwarded_addresses() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let a = Admission::new(vec!["https://wiki.example.org/".into()], vec!["127.0.0.1".parse().unwrap()], 0);
        let mut h = HeaderMap::new();
        assert!(a.origin_allowed(&h));
        h.insert("origin", "https://WIKI.example.org".parse().unwrap());
        assert!(a.origin_allowed(&h));
        h.insert("origin", "https://evil.example".parse().unwrap());
        assert!(!a.origin_allowed(&h));
        h.insert("x-forwarded-for", "1.2.3.4, 5.6.7.8".parse().unwrap());
        assert_eq!(a.client_ip(proxy, &h), "5.6.7.8".parse::<IpAddr>().unwrap());
        let stranger: IpAddr = "9.9.9.9".parse().unwrap();
        assert_eq!(a.client_ip(stranger, &h), stranger, "only trusted proxies may say who the client is");
        h.insert("x-forwarded-for", "1.2.3.4, garbage".parse().unwrap());
        assert_eq!(a.client_ip(proxy, &h), proxy, "an unreadable last entry never falls back to a forgeable one");
    }
}
