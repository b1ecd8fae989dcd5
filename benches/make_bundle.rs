//! Writes a bundle of N goods (each with about SIZE bytes of HTML) for the server benchmark.
//!
//!     cargo bench --bench make_bundle -- OUT N [SIZE]
//!
//! The master key is the benchmarks' fixed test key; the goods' secrets are `secret-<i>`.

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (Some(out), Some(n)) = (
        args.first(),
        args.get(1).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: cargo bench --bench make_bundle -- OUT N [SIZE]");
        return;
    };
    let size: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let key = satoshipress::key::MasterKey::from_base64(
        "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=",
        &satoshipress::key::KeyOrigin::Env,
    )
    .unwrap();
    let para = "<p>The secret is the second pour: keep the bed flat and the stream thin.</p>\n";
    let entries: Vec<satoshipress::bundle::Entry> = (0..n)
        .map(|i| satoshipress::bundle::Entry {
            id: format!("{i:024x}"),
            price: 100 + (i % 5000) as u32,
            content_type: "text/html; charset=utf-8".into(),
            secret: format!("secret-{i}"),
            content: para.repeat(size / para.len() + 1),
        })
        .collect();
    let bytes = satoshipress::bundle::seal(&key, &entries);
    std::fs::write(out, &bytes).expect("write the bundle");
    println!("wrote {n} goods, {} bytes, to {out}", bytes.len());
}
