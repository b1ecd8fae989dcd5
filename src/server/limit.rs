//! A per-client limit on failed payment proofs: guessing certificates costs a token each, and
//! a client out of tokens gets `429 Too Many Requests` with `Retry-After` until they refill.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// How many failed proofs a client may send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Tokens regained per minute.
    pub per_minute: u32,
    /// Tokens a client starts with (the most it can send at once).
    pub burst: u32,
}

/// Most clients tracked at once; beyond it, clients with a full bucket are forgotten.
const MAX_CLIENTS: usize = 100_000;

/// Token buckets by client address.
#[derive(Debug)]
pub struct Limiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl Limiter {
    /// A limiter for `limit`.
    pub fn new(limit: RateLimit) -> Limiter {
        Limiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refill(&self, tokens: f64, since: Instant, now: Instant) -> f64 {
        let rate = f64::from(self.limit.per_minute) / 60.0;
        (tokens + rate * now.duration_since(since).as_secs_f64()).min(f64::from(self.limit.burst))
    }

    /// `Err(seconds)` when `client` must wait that long before its next proof.
    pub fn check(&self, client: IpAddr) -> Result<(), u64> {
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let Some(&(tokens, since)) = buckets.get(&client) else {
            return Ok(());
        };
        let tokens = self.refill(tokens, since, Instant::now());
        if tokens >= 1.0 {
            return Ok(());
        }
        let rate = f64::from(self.limit.per_minute.max(1)) / 60.0;
        Err(((1.0 - tokens) / rate).ceil().max(1.0) as u64)
    }

    /// Takes a token from `client` after a failed proof.
    pub fn charge(&self, client: IpAddr) {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(&client) {
            let full = f64::from(self.limit.burst);
            buckets.retain(|_, (t, since)| self.refill(*t, *since, now) < full);
        }
        let (tokens, since) = buckets
            .get(&client)
            .copied()
            .unwrap_or((f64::from(self.limit.burst), now));
        let tokens = self.refill(tokens, since, now);
        buckets.insert(client, ((tokens - 1.0).max(0.0), now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_waiting() {
        let l = Limiter::new(RateLimit {
            per_minute: 60,
            burst: 3,
        });
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(l.check(ip), Ok(()));
            l.charge(ip);
        }
        let wait = l.check(ip).unwrap_err();
        assert!((1..=2).contains(&wait), "{wait}");
        assert_eq!(
            l.check(other),
            Ok(()),
            "one client's guesses do not block another"
        );
    }
}
