//! `satoshipress sandbox` as a faithful Digital Goods API (SPEC.md §1), over real HTTP.

use serde_json::{Value, json};

use crate::server::client;
use crate::sync::Sandbox;

fn call(sandbox: &Sandbox, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = client()
        .request(method.parse().unwrap(), format!("{}/v1{path}", sandbox.url))
        .basic_auth("sandbox-key", Some("sandbox-secret"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn good(n: u32) -> Value {
    json!({"price": 100 + n, "secret": format!("s{n}"), "url": format!("https://x.example/p{n}/#main"), "title": format!("P{n}")})
}

fn is_error(v: &Value, status: u16, name: &str) -> bool {
    v["statusCode"] == status
        && v["errorCode"] == status
        && v["name"] == name
        && v["message"].is_string()
}

#[test]
fn every_call_with_its_statuses() {
    let sandbox = Sandbox::start(&[]);
    let r = client()
        .get(format!("{}/v1/goods", sandbox.url))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().unwrap(),
        json!({"name": "unauthorized", "message": "Unauthorized Request", "statusCode": 401, "errorCode": 401})
    );
    let r = client()
        .get(format!("{}/v1/goods", sandbox.url))
        .basic_auth("sandbox-key", Some("nope"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);

    let (s, created) = call(&sandbox, "POST", "/goods", Some(good(1)));
    assert_eq!(s, 201);
    let id = created["id"].as_str().unwrap().to_string();
    assert!(
        id.len() == 24 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
    assert_eq!(created["price"], 101);
    let (s, list) = call(&sandbox, "GET", "/goods", None);
    assert_eq!((s, list.as_array().unwrap().len()), (200, 1));
    assert_eq!(list[0]["secret"], "s1", "GET /goods includes secrets");
    let (s, one) = call(&sandbox, "GET", &format!("/goods/{id}"), None);
    assert_eq!((s, &one), (200, &created));
    let (s, e) = call(&sandbox, "GET", "/goods/000000000000000000000000", None);
    assert!(s == 404 && is_error(&e, 404, "not_found"), "{e}");

    let (s, e) = call(
        &sandbox,
        "POST",
        "/goods",
        Some(json!({"price": 1, "secret": "s"})),
    );
    assert!(s == 400 && is_error(&e, 400, "bad_request"), "{e}");
    let (s, e) = call(
        &sandbox,
        "PUT",
        &format!("/goods/{id}"),
        Some(json!({"price": 5})),
    );
    assert!(
        s == 400 && is_error(&e, 400, "bad_request"),
        "PUT needs all four fields: {e}"
    );
    let (s, put) = call(&sandbox, "PUT", &format!("/goods/{id}"), Some(good(7)));
    assert_eq!((s, &put["title"]), (200, &json!("P7")));
    let (s, _) = call(
        &sandbox,
        "PUT",
        "/goods/000000000000000000000000",
        Some(good(7)),
    );
    assert_eq!(s, 404);
    let (s, patched) = call(
        &sandbox,
        "PATCH",
        &format!("/goods/{id}"),
        Some(json!({"price": 9})),
    );
    assert_eq!(
        (s, &patched["price"], &patched["title"]),
        (200, &json!(9), &json!("P7"))
    );
    let (s, _) = call(&sandbox, "DELETE", &format!("/goods/{id}"), None);
    assert_eq!(s, 200);
    let (s, _) = call(&sandbox, "DELETE", &format!("/goods/{id}"), None);
    assert_eq!(s, 404);
    let r = client()
        .post(format!("{}/v1/goods", sandbox.url))
        .basic_auth("sandbox-key", Some("sandbox-secret"))
        .body(serde_json::to_vec(&good(2)).unwrap())
        .send()
        .unwrap();
    assert_eq!(
        r.status(),
        415,
        "a JSON body without Content-Type: application/json"
    );
}

#[test]
fn batch_entries_are_independent() {
    let sandbox = Sandbox::start(&[]);
    let (_, created) = call(&sandbox, "POST", "/goods", Some(good(1)));
    let id = created["id"].as_str().unwrap();
    let (s, answer) = call(
        &sandbox,
        "POST",
        "/batch",
        Some(json!({"requests": [
            {"method": "POST", "path": "/goods", "body": good(2)},
            {"method": "POST", "path": "/goods", "body": {"price": "bad"}},
            {"method": "PATCH", "path": format!("/goods/{id}"), "body": {"title": "renamed"}},
            {"method": "DELETE", "path": "/goods/000000000000000000000000"},
            {"method": "PUT", "path": format!("/goods/{id}"), "body": good(3)},
        ]})),
    );
    assert_eq!(s, 200);
    let statuses: Vec<u64> = answer["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [201, 400, 200, 404, 200]);
    assert!(is_error(
        &answer["responses"][1]["body"],
        400,
        "bad_request"
    ));
    assert_eq!(
        call(&sandbox, "GET", "/goods", None)
            .1
            .as_array()
            .unwrap()
            .len(),
        2,
        "the failed entry did not stop the others"
    );
}

#[test]
fn goods_survive_a_restart_and_concurrent_requests_are_safe() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("goods.json");
    let url;
    {
        let sandbox = Sandbox::start_at(&file, &[]);
        url = sandbox.url.clone();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let url = url.clone();
                std::thread::spawn(move || {
                    let c = client();
                    for n in 0..25 {
                        let r = c
                            .post(format!("{url}/v1/goods"))
                            .basic_auth("sandbox-key", Some("sandbox-secret"))
                            .json(&good(t * 100 + n))
                            .send()
                            .unwrap();
                        assert_eq!(r.status(), 201);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(sandbox.goods().len(), 200);
    }
    let again = Sandbox::start_at(&file, &[]);
    let goods = again.goods();
    assert_eq!(goods.len(), 200, "goods were lost across a restart");
    let mut ids: Vec<&str> = goods.iter().map(|g| g["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 200);
    let _ = url;
}

#[test]
fn certificates_for_the_dev_widget() {
    let sandbox = Sandbox::start(&[]);
    let (_, created) = call(&sandbox, "POST", "/goods", Some(good(1)));
    let r: Value = client()
        .get(format!(
            "{}/_sandbox/certificate/{}",
            sandbox.url,
            created["id"].as_str().unwrap()
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(r["certificate"], "s1");
    let r = client()
        .get(format!("{}/_sandbox/certificate/nope", sandbox.url))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[test]
fn a_429_with_retry_after_is_honoured() {
    let sandbox = Sandbox::start(&[]);
    sandbox.faults(json!({"fail_next": 1, "fail_status": 429}));
    let site = crate::support::Site::new();
    site.write(
        "content/a.md",
        "---\nsatoshipay: { price: 100 }\n---\nPaid A.\n",
    );
    let env = sandbox.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let started = std::time::Instant::now();
    let r = site.run_env(&["build", "{site}", "--registry", "api"], &env);
    assert!(r.ok(), "{}", r.stderr);
    assert_eq!(sandbox.stats()["injected"], 1);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(900),
        "Retry-After: 1 was not waited for"
    );
    assert_eq!(sandbox.goods().len(), 1);
}
