//! The sandbox's goods: validated like the real API validates them, kept in a JSON file
//! written atomically after every change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A good as the Digital Goods API holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Good {
    /// 24 hex digits, assigned on creation.
    pub id: String,
    /// Price in satoshis.
    pub price: u64,
    /// The certificate the widget presents after payment.
    pub secret: String,
    /// The page holding the good.
    pub url: String,
    /// A title for the dashboard.
    pub title: String,
}

/// A failed call: HTTP status and the error object's name and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// HTTP status.
    pub status: u16,
    /// The error object's `name`.
    pub name: &'static str,
    /// The error object's `message`.
    pub message: String,
}

impl Failure {
    /// 400 with a message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Failure {
            status: 400,
            name: "bad_request",
            message: message.into(),
        }
    }

    /// 404 for an unknown good.
    pub fn not_found() -> Self {
        Failure {
            status: 404,
            name: "not_found",
            message: "Good not found".into(),
        }
    }
}

const FIELDS: [&str; 4] = ["price", "secret", "url", "title"];

/// The goods, and the file they live in.
#[derive(Debug, Default)]
pub struct GoodStore {
    goods: BTreeMap<String, Good>,
    file: Option<PathBuf>,
}

impl GoodStore {
    /// Loads `file` if it exists; without a file the goods live in memory only.
    pub fn open(file: Option<&Path>) -> Result<GoodStore> {
        let mut store = GoodStore {
            goods: BTreeMap::new(),
            file: file.map(Path::to_path_buf),
        };
        if let Some(path) = file
            && path.exists()
        {
            let text = crate::fs::read_to_string(path)?;
            let goods: Vec<Good> = serde_json::from_str(&text)
                .with_context(|| format!("`{}` is not a sandbox data file", path.display()))?;
            store.goods = goods.into_iter().map(|g| (g.id.clone(), g)).collect();
        }
        Ok(store)
    }

    fn save(&self) -> Result<()> {
        if let Some(path) = &self.file {
            let goods: Vec<&Good> = self.goods.values().collect();
            crate::fs::write_atomic(path, &serde_json::to_vec_pretty(&goods)?, Some(0o600))?;
        }
        Ok(())
    }

    /// Every good.
    pub fn list(&self) -> Vec<Good> {
        self.goods.values().cloned().collect()
    }

    /// One good.
    pub fn get(&self, id: &str) -> Result<Good, Failure> {
        self.goods.get(id).cloned().ok_or_else(Failure::not_found)
    }

    /// How many goods there are.
    pub fn len(&self) -> usize {
        self.goods.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.goods.is_empty()
    }

    /// `POST /goods`: all four fields required.
    pub fn create(&mut self, body: &Value) -> Result<Good, Failure> {
        let fields = fields(body, true)?;
        let id = new_id().map_err(|e| Failure {
            status: 500,
            name: "internal",
            message: e,
        })?;
        let good = apply(
            Good {
                id: id.clone(),
                price: 0,
                secret: String::new(),
                url: String::new(),
                title: String::new(),
            },
            &fields,
        );
        self.goods.insert(id, good.clone());
        Ok(good)
    }

    /// `PUT /goods/<id>`: all four fields required.
    pub fn replace(&mut self, id: &str, body: &Value) -> Result<Good, Failure> {
        let fields = fields(body, true)?;
        let old = self.get(id)?;
        let good = apply(old, &fields);
        self.goods.insert(id.to_string(), good.clone());
        Ok(good)
    }

    /// `PATCH /goods/<id>`: any of the four fields.
    pub fn patch(&mut self, id: &str, body: &Value) -> Result<Good, Failure> {
        let fields = fields(body, false)?;
        let old = self.get(id)?;
        let good = apply(old, &fields);
        self.goods.insert(id.to_string(), good.clone());
        Ok(good)
    }

    /// `DELETE /goods/<id>`.
    pub fn delete(&mut self, id: &str) -> Result<Good, Failure> {
        self.goods.remove(id).ok_or_else(Failure::not_found)
    }

    /// Writes the file after changes; an I/O failure is a 500 for the caller.
    pub fn persist(&self) -> Result<(), Failure> {
        self.save().map_err(|e| Failure {
            status: 500,
            name: "internal",
            message: format!("the sandbox could not save its data: {e:#}"),
        })
    }
}

/// The validated fields of a body.
fn fields(body: &Value, all: bool) -> Result<Map<String, Value>, Failure> {
    let Some(obj) = body.as_object() else {
        return Err(Failure::bad_request("the body must be a JSON object"));
    };
    for key in obj.keys() {
        if !FIELDS.contains(&key.as_str()) {
            return Err(Failure::bad_request(format!(
                "unknown field `{key}`; a good has price, secret, url and title"
            )));
        }
    }
    for f in FIELDS {
        match obj.get(f) {
            None if all => return Err(Failure::bad_request(format!("`{f}` is required"))),
            None => {}
            Some(v) if f == "price" && v.as_u64().is_none() => {
                return Err(Failure::bad_request(
                    "`price` must be a whole number of satoshis",
                ));
            }
            Some(v) if f != "price" && v.as_str().is_none_or(str::is_empty) => {
                return Err(Failure::bad_request(format!(
                    "`{f}` must be a non-empty string"
                )));
            }
            Some(_) => {}
        }
    }
    if !all && obj.is_empty() {
        return Err(Failure::bad_request(
            "nothing to change: give at least one of price, secret, url, title",
        ));
    }
    Ok(obj.clone())
}

fn apply(mut good: Good, fields: &Map<String, Value>) -> Good {
    for (k, v) in fields {
        match k.as_str() {
            "price" => good.price = v.as_u64().unwrap_or(good.price),
            "secret" => good.secret = v.as_str().unwrap_or_default().to_string(),
            "url" => good.url = v.as_str().unwrap_or_default().to_string(),
            "title" => good.title = v.as_str().unwrap_or_default().to_string(),
            _ => {}
        }
    }
    good
}

fn new_id() -> Result<String, String> {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).map_err(|e| e.to_string())?;
    Ok(crate::key::hex(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validation_table() {
        let mut s = GoodStore::default();
        let ok = json!({"price": 5, "secret": "s", "url": "https://a/#x", "title": "t"});
        let g = s.create(&ok).unwrap();
        assert_eq!(g.id.len(), 24);
        for (body, needle) in [
            (
                json!({"price": 5, "secret": "s", "url": "u"}),
                "`title` is required",
            ),
            (
                json!({"price": "5", "secret": "s", "url": "u", "title": "t"}),
                "whole number",
            ),
            (
                json!({"price": -1, "secret": "s", "url": "u", "title": "t"}),
                "whole number",
            ),
            (
                json!({"price": 5, "secret": "", "url": "u", "title": "t"}),
                "non-empty",
            ),
            (
                json!({"price": 5, "secret": "s", "url": "u", "title": "t", "x": 1}),
                "unknown field",
            ),
            (json!([1]), "JSON object"),
        ] {
            let e = s.create(&body).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.contains(needle), "{body}: {e:?}");
        }
        assert_eq!(s.patch(&g.id, &json!({})).unwrap_err().status, 400);
        assert_eq!(s.patch(&g.id, &json!({"price": 9})).unwrap().price, 9);
        assert_eq!(
            s.patch("nope", &json!({"price": 9})).unwrap_err().status,
            404
        );
        assert_eq!(
            s.replace(&g.id, &json!({"price": 9})).unwrap_err().status,
            400
        );
        assert_eq!(s.delete(&g.id).unwrap().id, g.id);
        assert_eq!(s.delete(&g.id).unwrap_err().status, 404);
    }

    #[test]
    fn goods_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("goods.json");
        let mut s = GoodStore::open(Some(&file)).unwrap();
        let g = s
            .create(&json!({"price": 5, "secret": "s", "url": "u", "title": "t"}))
            .unwrap();
        s.persist().unwrap();
        let again = GoodStore::open(Some(&file)).unwrap();
        assert_eq!(again.get(&g.id).unwrap(), g);
    }
}
