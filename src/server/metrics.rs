//! Counters for `GET /metrics`, in Prometheus' text format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::SystemTime;

use super::store::Store;

/// The statuses counted one by one; anything else counts as `other`.
const STATUSES: [u16; 15] = [
    200, 204, 400, 402, 404, 405, 408, 411, 413, 414, 429, 431, 500, 501, 503,
];

/// Request and reload counters. Lock-free: workers bump them on every request.
#[derive(Debug, Default)]
pub struct Metrics {
    by_status: [AtomicU64; STATUSES.len()],
    other: AtomicU64,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    paid_served: AtomicU64,
}

impl Metrics {
    /// Counts one answered request.
    pub fn count(&self, status: u16) {
        match STATUSES.iter().position(|&s| s == status) {
            Some(i) => self.by_status[i].fetch_add(1, Relaxed),
            None => self.other.fetch_add(1, Relaxed),
        };
    }

    /// Counts paid content handed out.
    pub fn count_paid(&self) {
        self.paid_served.fetch_add(1, Relaxed);
    }

    /// Counts a reload.
    pub fn count_reload(&self, ok: bool) {
        if ok {
            self.reloads_ok.fetch_add(1, Relaxed);
        } else {
            self.reloads_failed.fetch_add(1, Relaxed);
        }
    }

    /// Requests answered with `status` so far.
    pub fn requests(&self, status: u16) -> u64 {
        STATUSES
            .iter()
            .position(|&s| s == status)
            .map_or(0, |i| self.by_status[i].load(Relaxed))
    }

    /// The exposition text.
    pub fn render(&self, store: &Store) -> String {
        let mut out = String::with_capacity(2048);
        out.push_str("# HELP satoshipress_requests_total Requests answered, by HTTP status.\n");
        out.push_str("# TYPE satoshipress_requests_total counter\n");
        for (i, status) in STATUSES.iter().enumerate() {
            let _ = writeln!(
                out,
                "satoshipress_requests_total{{status=\"{status}\"}} {}",
                self.by_status[i].load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "satoshipress_requests_total{{status=\"other\"}} {}",
            self.other.load(Relaxed)
        );
        out.push_str("# HELP satoshipress_paid_content_served_total Paid sections handed to readers with a valid certificate or receipt.\n");
        out.push_str("# TYPE satoshipress_paid_content_served_total counter\n");
        let _ = writeln!(
            out,
            "satoshipress_paid_content_served_total {}",
            self.paid_served.load(Relaxed)
        );
        out.push_str("# HELP satoshipress_bundle_goods Goods in the loaded bundle.\n# TYPE satoshipress_bundle_goods gauge\n");
        let _ = writeln!(out, "satoshipress_bundle_goods {}", store.len());
        out.push_str("# HELP satoshipress_bundle_info The loaded bundle's version.\n# TYPE satoshipress_bundle_info gauge\n");
        let _ = writeln!(
            out,
            "satoshipress_bundle_info{{version=\"{}\"}} 1",
            store.version
        );
        let loaded = store
            .loaded_at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let age = SystemTime::now()
            .duration_since(store.loaded_at)
            .map_or(0.0, |d| d.as_secs_f64());
        out.push_str("# HELP satoshipress_bundle_loaded_timestamp_seconds When the loaded bundle was loaded.\n# TYPE satoshipress_bundle_loaded_timestamp_seconds gauge\n");
        let _ = writeln!(
            out,
            "satoshipress_bundle_loaded_timestamp_seconds {loaded:.3}"
        );
        out.push_str("# HELP satoshipress_bundle_age_seconds Seconds since the loaded bundle was loaded.\n# TYPE satoshipress_bundle_age_seconds gauge\n");
        let _ = writeln!(out, "satoshipress_bundle_age_seconds {age:.3}");
        out.push_str("# HELP satoshipress_reloads_total Bundle reloads, by result.\n# TYPE satoshipress_reloads_total counter\n");
        let _ = writeln!(
            out,
            "satoshipress_reloads_total{{result=\"ok\"}} {}",
            self.reloads_ok.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "satoshipress_reloads_total{{result=\"failed\"}} {}",
            self.reloads_failed.load(Relaxed)
        );
        out
    }
}
