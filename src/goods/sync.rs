//! Syncing a site's goods with the Digital Goods API: a pure plan (sections + lock + remote →
//! actions), and an executor that sends it in batches, writing the lock after every batch so
//! that a run killed at any point converges on the next one with no duplicate and no lost id.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::{Map, Value, json};

use super::client::{ApiClient, ApiError, BatchRequest, RemoteGood};
use super::lock::{Lock, LockedGood};
use super::registry::SyncReport;

/// A good as the site wants it registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// `<page path>#<section>`.
    pub key: String,
    /// Price in satoshis.
    pub price: u32,
    /// Title.
    pub title: String,
    /// URL (unique per good: it ends in `#<section>`).
    pub url: String,
    /// Keyed content digest (kept in the lock, never sent).
    pub digest: String,
    /// Secret generation.
    pub generation: u32,
    /// The secret for that generation.
    pub secret: String,
}

/// Fields to send in a PATCH: only those that differ.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// New price.
    pub price: Option<u32>,
    /// New title.
    pub title: Option<String>,
    /// New url.
    pub url: Option<String>,
    /// New secret.
    pub secret: Option<String>,
}

impl Changes {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        *self == Changes::default()
    }

    /// The PATCH body.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if let Some(p) = self.price {
            m.insert("price".into(), json!(p));
        }
        if let Some(t) = &self.title {
            m.insert("title".into(), json!(t));
        }
        if let Some(u) = &self.url {
            m.insert("url".into(), json!(u));
        }
        if let Some(s) = &self.secret {
            m.insert("secret".into(), json!(s));
        }
        Value::Object(m)
    }

    /// The names of the changed fields (never their values: a secret is among them).
    pub fn names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.price.is_some() {
            v.push("price");
        }
        if self.title.is_some() {
            v.push("title");
        }
        if self.url.is_some() {
            v.push("url");
        }
        if self.secret.is_some() {
            v.push("secret");
        }
        v
    }
}

/// What to do for one good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Register it: `POST /goods`.
    Create {
        /// The good's key.
        key: String,
    },
    /// The API already has a good at this url that the lock lacks (a crash after the API
    /// created it, or a lost lock): take its id, and patch what differs.
    Adopt {
        /// The good's key.
        key: String,
        /// The remote good's id.
        id: String,
        /// What to patch (may be empty).
        changes: Changes,
    },
    /// Patch the fields that changed.
    Update {
        /// The good's key.
        key: String,
        /// Its id.
        id: String,
        /// What changed.
        changes: Changes,
    },
    /// Nothing to do.
    Keep {
        /// The good's key.
        key: String,
        /// Its id.
        id: String,
    },
}

/// The changes that turn `(price, title, url, secret)` into `d`.
fn diff(d: &Desired, price: u64, title: &str, url: &str, secret: Option<&str>) -> Changes {
    Changes {
        price: (u64::from(d.price) != price).then_some(d.price),
        title: (d.title != title).then(|| d.title.clone()),
        url: (d.url != url).then(|| d.url.clone()),
        secret: secret.filter(|s| *s != d.secret).map(|_| d.secret.clone()),
    }
}

/// Plans a sync. Pure. `remote` is the API's list when it was fetched; without it the lock is
/// trusted. A good in the lock whose id the API no longer has is adopted by url or created.
pub fn plan(desired: &[Desired], lock: &Lock, remote: Option<&[RemoteGood]>) -> Vec<Action> {
    let remote_by_id: Option<HashMap<&str, &RemoteGood>> =
        remote.map(|r| r.iter().map(|g| (g.id.as_str(), g)).collect());
    // Ids the lock holds for goods the site still wants: never adopted by another key.
    let mut claimed: HashSet<&str> = desired
        .iter()
        .filter_map(|d| lock.get(&d.key))
        .map(|g| g.id.as_str())
        .collect();
    let mut by_url: HashMap<&str, Vec<&RemoteGood>> = HashMap::new();
    for g in remote.unwrap_or(&[]) {
        by_url.entry(g.url.as_str()).or_default().push(g);
    }
    let mut actions = Vec::with_capacity(desired.len());
    for d in desired {
        let locked = lock.get(&d.key);
        let live = match (locked, &remote_by_id) {
            (Some(l), Some(ids)) => ids.get(l.id.as_str()).map(|r| (l, Some(*r))),
            (Some(l), None) => Some((l, None)),
            (None, _) => None,
        };
        if let Some((l, r)) = live {
            let changes = match r {
                Some(r) => diff(d, r.price, &r.title, &r.url, Some(&r.secret)),
                None => {
                    let mut c = diff(d, u64::from(l.price), &l.title, &l.url, None);
                    if l.generation != d.generation {
                        c.secret = Some(d.secret.clone());
                    }
                    c
                }
            };
            actions.push(if changes.is_empty() {
                Action::Keep {
                    key: d.key.clone(),
                    id: l.id.clone(),
                }
            } else {
                Action::Update {
                    key: d.key.clone(),
                    id: l.id.clone(),
                    changes,
                }
            });
            continue;
        }
        let candidate = by_url
            .get(d.url.as_str())
            .and_then(|gs| gs.iter().find(|g| !claimed.contains(g.id.as_str())));
        match candidate {
            Some(r) => {
                claimed.insert(r.id.as_str());
                actions.push(Action::Adopt {
                    key: d.key.clone(),
                    id: r.id.clone(),
                    changes: diff(d, r.price, &r.title, &r.url, Some(&r.secret)),
                });
            }
            None => actions.push(Action::Create { key: d.key.clone() }),
        }
    }
    actions
}

/// How a sync runs.
pub struct SyncOptions<'a> {
    /// Requests per `POST /batch` (at most 100 is what the API is sent by default).
    pub batch_size: usize,
    /// Where to write the lock after every batch.
    pub lock_path: &'a Path,
    /// Rounds of re-reading the API and re-planning after transient failures.
    pub rounds: u32,
    /// Called after each batch with (requests done, requests in all).
    pub progress: &'a dyn Fn(usize, usize),
}

fn locked(d: &Desired, id: &str) -> LockedGood {
    LockedGood {
        key: d.key.clone(),
        id: id.to_string(),
        price: d.price,
        title: d.title.clone(),
        url: d.url.clone(),
        digest: d.digest.clone(),
        generation: d.generation,
    }
}

fn write_lock(lock: &Lock, path: &Path) -> anyhow::Result<()> {
    crate::fs::StagedFile::new_if_changed(path, lock.to_text().as_bytes(), Some(0o644))?
        .map_or(Ok(()), crate::fs::StagedFile::commit)
}

/// Registers `desired` with the API, starting from `lock`. Returns the lock of the goods the
/// site has (goods no page has any more are left for `goods prune`) and the counts.
pub fn sync(
    client: &ApiClient,
    desired: &[Desired],
    mut lock: Lock,
    opts: &SyncOptions<'_>,
) -> anyhow::Result<(Lock, SyncReport)> {
    let by_key: HashMap<&str, &Desired> = desired.iter().map(|d| (d.key.as_str(), d)).collect();
    let mut report = SyncReport {
        removed: lock
            .goods
            .iter()
            .filter(|g| !by_key.contains_key(g.key.as_str()))
            .count(),
        ..SyncReport::default()
    };
    let mut counted: HashSet<String> = HashSet::new();
    let mut force_list = false;
    let mut last_error: Option<ApiError> = None;
    for round in 0..opts.rounds.max(1) {
        if round > 0 {
            std::thread::sleep(super::client::RetryPolicy::default().backoff(round));
        }
        let needs_remote = force_list || desired.iter().any(|d| lock.get(&d.key).is_none());
        let remote = if needs_remote {
            Some(client.list()?)
        } else {
            None
        };
        let actions = plan(desired, &lock, remote.as_deref());
        // (request, good, its id when known, whether it adopts a remote good)
        let mut requests: Vec<(BatchRequest, &Desired, Option<String>, bool)> = Vec::new();
        for action in &actions {
            match action {
                Action::Keep { key, id } => {
                    let d = by_key[key.as_str()];
                    upsert(&mut lock, locked(d, id));
                    if counted.insert(key.clone()) {
                        report.unchanged += 1;
                    }
                }
                Action::Adopt { key, id, changes } if changes.is_empty() => {
                    upsert(&mut lock, locked(by_key[key.as_str()], id));
                    if counted.insert(key.clone()) {
                        report.created += 1;
                    }
                }
                Action::Adopt { key, id, changes } | Action::Update { key, id, changes } => {
                    requests.push((
                        BatchRequest {
                            method: "PATCH",
                            path: format!("/goods/{id}"),
                            body: changes.to_json(),
                        },
                        by_key[key.as_str()],
                        Some(id.clone()),
                        matches!(action, Action::Adopt { .. }),
                    ));
                }
                Action::Create { key } => {
                    let d = by_key[key.as_str()];
                    requests.push((
                        BatchRequest {
                            method: "POST",
                            path: "/goods".into(),
                            body: json!({ "price": d.price, "secret": d.secret, "url": d.url, "title": d.title }),
                        },
                        d,
                        None,
                        false,
                    ));
                }
            }
        }
        write_lock(&lock, opts.lock_path)?;
        if requests.is_empty() {
            return Ok((finish(lock, &by_key), report));
        }
        let total = requests.len();
        let mut done = 0;
        let mut transient = false;
        let mut permanent: Vec<String> = Vec::new();
        for chunk in requests.chunks(opts.batch_size.max(1)) {
            let batch: Vec<BatchRequest> = chunk.iter().map(|(r, ..)| r.clone()).collect();
            match client.batch(&batch) {
                Ok(responses) => {
                    for ((req, d, id, adopting), resp) in chunk.iter().zip(responses) {
                        if (200..300).contains(&resp.status) {
                            let new_id = id.clone().or_else(|| {
                                resp.body
                                    .get("id")
                                    .and_then(Value::as_str)
                                    .map(str::to_string)
                            });
                            let Some(new_id) = new_id else {
                                transient = true;
                                continue;
                            };
                            upsert(&mut lock, locked(d, &new_id));
                            if counted.insert(d.key.clone()) {
                                if id.is_none() || *adopting {
                                    report.created += 1;
                                } else {
                                    report.updated += 1;
                                }
                            }
                        } else if resp.status == 404 && id.is_some() {
                            // The API lost the good: plan it again (adopt by url or create).
                            lock.goods.retain(|g| g.key != d.key);
                            force_list = true;
                            transient = true;
                        } else if resp.status == 429 || resp.status >= 500 {
                            transient = true;
                            force_list |= req.method == "POST";
                        } else {
                            let name = resp
                                .body
                                .get("message")
                                .and_then(Value::as_str)
                                .unwrap_or("error");
                            permanent.push(format!(
                                "{} ({} {}): {} {name}",
                                d.key, req.method, req.path, resp.status
                            ));
                        }
                    }
                    write_lock(&lock, opts.lock_path)?;
                }
                Err(e) if e.is_transient() => {
                    transient = true;
                    force_list = true;
                    last_error = Some(e);
                    break;
                }
                Err(e) => return Err(e.into()),
            }
            done += chunk.len();
            (opts.progress)(done, total);
        }
        if !permanent.is_empty() {
            anyhow::bail!(
                "the Digital Goods API refused {} good(s):\n  {}",
                permanent.len(),
                permanent.join("\n  ")
            );
        }
        if !transient {
            return Ok((finish(lock, &by_key), report));
        }
    }
    let detail = last_error.map(|e| format!(": {e}")).unwrap_or_default();
    anyhow::bail!(
        "the Digital Goods API kept failing after {} rounds{detail}; what was registered is in the lock — run the build again to finish",
        opts.rounds.max(1)
    )
}

fn upsert(lock: &mut Lock, good: LockedGood) {
    lock.upsert(good);
}

/// The lock of the goods the site has, sorted.
fn finish(mut lock: Lock, by_key: &HashMap<&str, &Desired>) -> Lock {
    lock.goods.retain(|g| by_key.contains_key(g.key.as_str()));
    lock.goods.sort_by(|a, b| a.key.cmp(&b.key));
    lock
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RegistryKind;

    fn d(key: &str, price: u32, generation: u32) -> Desired {
        Desired {
            key: key.into(),
            price,
            title: format!("T {key}"),
            url: format!("https://s/{key}"),
            digest: "dg".into(),
            generation,
            secret: format!("secret-{key}-{generation}"),
        }
    }

    fn lock_of(goods: &[(&str, &str, u32, u32)]) -> Lock {
        let mut lock = Lock::new(RegistryKind::Api, "fp".into());
        for (key, id, price, generation) in goods {
            let mut g = locked(&d(key, *price, *generation), id);
            g.id = id.to_string();
            lock.upsert(g);
        }
        lock
    }

    fn remote(id: &str, key: &str, price: u64, generation: u32) -> RemoteGood {
        RemoteGood {
            id: id.into(),
            price,
            secret: format!("secret-{key}-{generation}"),
            url: format!("https://s/{key}"),
            title: format!("T {key}"),
        }
    }

    type Case<'a> = (
        &'a str,
        Vec<Desired>,
        Lock,
        Option<Vec<RemoteGood>>,
        Vec<Action>,
    );

    #[test]
    fn plan_table() {
        let price = |p| Changes {
            price: Some(p),
            ..Changes::default()
        };
        let cases: Vec<Case<'_>> = vec![
            (
                "new goods are created",
                vec![d("a", 1, 1)],
                lock_of(&[]),
                Some(vec![]),
                vec![Action::Create { key: "a".into() }],
            ),
            (
                "unchanged goods are kept, without the API",
                vec![d("a", 1, 1)],
                lock_of(&[("a", "i1", 1, 1)]),
                None,
                vec![Action::Keep {
                    key: "a".into(),
                    id: "i1".into(),
                }],
            ),
            (
                "a price change patches the price only",
                vec![d("a", 2, 1)],
                lock_of(&[("a", "i1", 1, 1)]),
                None,
                vec![Action::Update {
                    key: "a".into(),
                    id: "i1".into(),
                    changes: price(2),
                }],
            ),
            (
                "a new generation patches the secret",
                vec![d("a", 1, 2)],
                lock_of(&[("a", "i1", 1, 1)]),
                None,
                vec![Action::Update {
                    key: "a".into(),
                    id: "i1".into(),
                    changes: Changes {
                        secret: Some("secret-a-2".into()),
                        ..Changes::default()
                    },
                }],
            ),
            (
                "a good the API has but the lock lacks is adopted by url",
                vec![d("a", 1, 1)],
                lock_of(&[]),
                Some(vec![remote("r1", "a", 1, 1)]),
                vec![Action::Adopt {
                    key: "a".into(),
                    id: "r1".into(),
                    changes: Changes::default(),
                }],
            ),
            (
                "an adopted good is patched where it differs",
                vec![d("a", 5, 1)],
                lock_of(&[]),
                Some(vec![remote("r1", "a", 1, 1)]),
                vec![Action::Adopt {
                    key: "a".into(),
                    id: "r1".into(),
                    changes: price(5),
                }],
            ),
            (
                "a locked id the API lost is adopted by url",
                vec![d("a", 1, 1)],
                lock_of(&[("a", "gone", 1, 1)]),
                Some(vec![remote("r2", "a", 1, 1)]),
                vec![Action::Adopt {
                    key: "a".into(),
                    id: "r2".into(),
                    changes: Changes::default(),
                }],
            ),
            (
                "a locked id the API lost is created again",
                vec![d("a", 1, 1)],
                lock_of(&[("a", "gone", 1, 1)]),
                Some(vec![]),
                vec![Action::Create { key: "a".into() }],
            ),
            (
                "remote drift is patched when the API was read",
                vec![d("a", 1, 1)],
                lock_of(&[("a", "i1", 1, 1)]),
                Some(vec![remote("i1", "a", 9, 1)]),
                vec![Action::Update {
                    key: "a".into(),
                    id: "i1".into(),
                    changes: price(1),
                }],
            ),
            (
                "a remote good claimed by the lock is not adopted twice",
                vec![d("a", 1, 1), d("b", 1, 1)],
                lock_of(&[("a", "r1", 1, 1)]),
                Some(vec![RemoteGood {
                    url: "https://s/b".into(),
                    ..remote("r1", "a", 1, 1)
                }]),
                vec![
                    Action::Update {
                        key: "a".into(),
                        id: "r1".into(),
                        changes: Changes {
                            url: Some("https://s/a".into()),
                            ..Changes::default()
                        },
                    },
                    Action::Create { key: "b".into() },
                ],
            ),
        ];
        for (name, desired, lock, remote, want) in cases {
            assert_eq!(plan(&desired, &lock, remote.as_deref()), want, "{name}");
        }
    }

    #[test]
    fn changes_name_fields_not_values() {
        let c = Changes {
            secret: Some("s3cret".into()),
            price: Some(3),
            ..Changes::default()
        };
        assert_eq!(c.names(), vec!["price", "secret"]);
        assert_eq!(c.to_json(), json!({"price": 3, "secret": "s3cret"}));
    }
}
