//! The physical limit of a build: the same Markdown rendered to HTML by pulldown-cmark alone,
//! in a tight loop over files already in memory, with the options satoshipress uses.
//!
//!     cargo bench --bench limit -- DIR [ROUNDS]
//!
//! Prints `limit: N pages in S s = P pages/s` for the fastest round.

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: cargo bench --bench limit -- DIR [ROUNDS]");
        return;
    };
    let rounds: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(3);
    let files = satoshipress::site::list_files(std::path::Path::new(dir).join("content").as_path())
        .expect("a site directory");
    let sources: Vec<String> = files
        .iter()
        .filter(|f| f.rel.ends_with(".md"))
        .map(|f| std::fs::read_to_string(&f.path).unwrap())
        .collect();
    let mut best = f64::MAX;
    let mut bytes = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        bytes = 0;
        for s in &sources {
            let body = satoshipress::front_matter::split(s)
                .map(|x| x.body)
                .unwrap_or(s);
            let mut html = String::with_capacity(body.len() * 2);
            pulldown_cmark::html::push_html(
                &mut html,
                pulldown_cmark::Parser::new_ext(body, satoshipress::markdown::options()),
            );
            bytes += html.len();
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "limit: {} pages in {best:.3} s = {:.0} pages/s ({bytes} bytes of HTML)",
        sources.len(),
        sources.len() as f64 / best
    );
}
