//! The physical limits of a build, on the same Markdown with the options satoshipress uses:
//!
//! - in memory: pulldown-cmark alone in a tight loop over sources already read, one thread;
//! - with the files: every source read from disk, rendered by pulldown-cmark and written to
//!   `OUT/<page dir>/index.html` (the layout satoshipress writes), on every core. No generator
//!   that writes these pages can do less.
//!
//!     cargo bench --bench limit -- SITE [ROUNDS] [OUT]
//!
//! Prints `limit: N pages in S s = P pages/s` for the fastest in-memory round and, with OUT,
//! `limit with files: N pages in S s = P pages/s` for the fastest round writing into OUT
//! (removed before each round, and at the end).

use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;

fn render(source: &str) -> String {
    let body = satoshipress::front_matter::split(source)
        .map(|x| x.body)
        .unwrap_or(source);
    let mut html = String::with_capacity(body.len() * 2);
    pulldown_cmark::html::push_html(
        &mut html,
        pulldown_cmark::Parser::new_ext(body, satoshipress::markdown::options()),
    );
    html
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: cargo bench --bench limit -- SITE [ROUNDS] [OUT]");
        return;
    };
    let rounds: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(3);
    let files: Vec<_> = satoshipress::site::list_files(Path::new(dir).join("content").as_path())
        .expect("a site directory")
        .into_iter()
        .filter(|f| f.rel.ends_with(".md"))
        .collect();
    let sources: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(&f.path).unwrap())
        .collect();
    let mut best = f64::MAX;
    let mut bytes = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        bytes = sources.iter().map(|s| render(s).len()).sum::<usize>();
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "limit: {} pages in {best:.3} s = {:.0} pages/s ({bytes} bytes of HTML)",
        sources.len(),
        sources.len() as f64 / best
    );
    drop(sources);

    let Some(out) = args.get(2).map(Path::new) else {
        return;
    };
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let _ = std::fs::remove_dir_all(out);
        let t = Instant::now();
        files.par_iter().for_each(|f| {
            let html = render(&std::fs::read_to_string(&f.path).unwrap());
            let dir = out.join(satoshipress::markdown::page_dir(&f.rel));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("index.html"), html).unwrap();
        });
        best = best.min(t.elapsed().as_secs_f64());
    }
    let _ = std::fs::remove_dir_all(out);
    println!(
        "limit with files: {} pages in {best:.3} s = {:.0} pages/s",
        files.len(),
        files.len() as f64 / best
    );
}
