//! Micro-benchmarks of the hot inner functions: front-matter split and parse, section
//! finding, text-length counting, sealing and opening a bundle entry, certificate checks.
//!
//!     cargo bench --bench hot

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use satoshipress::bundle::{Bundle, Entry, seal};
use satoshipress::front_matter;
use satoshipress::key::{KeyOrigin, MasterKey};
use satoshipress::markdown::Doc;

const PAGE: &str = "---\ntitle: Brewing guide\ndate: 2026-03-14\nsatoshipay:\n  price: 4000\n  sections:\n    recipe: { price: 2500, title: \"The recipe\" }\n    gear: { price: 800, heading: \"Gear list\" }\n---\nPour-over rewards patience. This guide walks through grind, water and timing.\n\n## The basics\n\n- Fresh beans, ground just before brewing.\n- Water just off the boil, around 94 °C.\n\n<!-- satoshipay:recipe -->\nRinse the filter, add **18 g** of coffee and bloom with 40 g of water for 45 seconds.\n\n| step | water | time |\n|---|---|---|\n| bloom | 40 g | 0:45 |\n<!-- /satoshipay:recipe -->\n\n## Gear list\n\nA kettle with a gooseneck, a scale, a dripper.\n\n```rust\nfn main() {}\n```\n\n## After\n\nFree again.\n\n<!-- satoshipay -->\n\nThe secret is the second pour: keep the bed flat and the stream thin.\n";

fn key() -> MasterKey {
    MasterKey::from_base64(
        "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=",
        &KeyOrigin::Env,
    )
    .unwrap()
}

fn benches(c: &mut Criterion) {
    c.bench_function("front matter: split", |b| {
        b.iter(|| front_matter::split(black_box(PAGE)).unwrap())
    });
    let split = front_matter::split(PAGE).unwrap();
    c.bench_function("front matter: parse and validate", |b| {
        b.iter(|| front_matter::parse(black_box(&split)).unwrap())
    });
    let meta = front_matter::parse(&split).unwrap();
    c.bench_function("sections: parse body and find sections", |b| {
        b.iter(|| {
            let doc = Doc::parse(black_box(split.body));
            satoshipress::section::find(&doc, split.body, split.body_line, &meta).unwrap()
        })
    });
    c.bench_function("page: whole parse and render", |b| {
        b.iter(|| {
            satoshipress::page::Page::parse("p.md", Path::new("p.md"), black_box(PAGE)).unwrap()
        })
    });
    let html = "<h2>The full recipe</h2>\n<p>Rinse the filter, add <strong>18 g</strong> of coffee &amp; bloom ☕ with 40 g of water.</p>\n".repeat(20);
    c.bench_function("text: visible length of 2 KB of HTML", |b| {
        b.iter(|| satoshipress::text::visible_length(black_box(&html)))
    });
    let k = key();
    let entry = Entry {
        id: "8aaa98c2bc0148d0a3dab508".into(),
        price: 4000,
        content_type: "text/html; charset=utf-8".into(),
        secret: k.good_secret("posts/a.md#main", 1),
        content: html.clone(),
    };
    c.bench_function("bundle: seal one 2 KB entry", |b| {
        b.iter(|| seal(&k, std::slice::from_ref(black_box(&entry))))
    });
    let sealed = seal(&k, std::slice::from_ref(&entry));
    c.bench_function("bundle: open and verify one 2 KB entry", |b| {
        b.iter(|| Bundle::open(&k, black_box(&sealed)).unwrap())
    });
    let store = satoshipress::server::Store::from_bundle(Bundle::open(&k, &sealed).unwrap());
    let metrics = satoshipress::server::Metrics::default();
    let opts = satoshipress::server::HandlerOptions::default();
    let target = format!(
        "/satoshipay-content/{}?paymentCert={}",
        entry.id, entry.secret
    );
    c.bench_function("certificate: check and answer a paid request", |b| {
        b.iter(|| {
            let req = satoshipress::server::Request {
                method: "GET",
                target: black_box(&target),
                certificate: None,
                origin: None,
            };
            satoshipress::server::respond(&req, &store, &metrics, &opts, 0).status
        })
    });
    let receipt = satoshipress::server::sign_receipt(
        &serde_json::json!({"exp": 4_000_000_000u64, "ito": "r", "jti": "1"}),
        &entry.secret,
        true,
        false,
    );
    c.bench_function("certificate: verify a signed receipt", |b| {
        b.iter(|| satoshipress::server::verify_receipt(black_box(&receipt), &entry.secret, 1))
    });
}

criterion_group!(hot, benches);
criterion_main!(hot);
