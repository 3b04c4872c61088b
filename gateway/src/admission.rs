//! Who may open a socket at all, decided at the handshake before any event
//! can flow: the `Origin` allow-list (against cross-site WebSocket
//! hijacking) and a per-IP connection limit (so one host cannot exhaust the
//! gateway), with the client's address taken from `X-Forwarded-For` only
//! when the peer is a trusted proxy.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;

pub struct Admission {
    allowed_origins: Vec<String>,
    trusted_proxies: Vec<IpAddr>,
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
    pub fn new(allowed_origins: Vec<String>, trusted_proxies: Vec<IpAddr>, per_ip: usize) -> Admission {
        let allowed_origins = allowed_origins.into_iter().map(|o| o.trim_end_matches('/').to_ascii_lowercase()).collect();
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
        if !self.trusted_proxies.contains(&peer) {
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
    fn origins_and_forwarded_addresses() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let a = Admission::new(vec!["https://wiki.example.org/".into()], vec![proxy], 0);
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
