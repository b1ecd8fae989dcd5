//! A whole page: front matter, Markdown, the section finder and rendering. Never panics; a
//! page that parses keeps every paid section's text out of its free HTML, and its layout
//! points inside the source.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(page) = satoshipress::page::Page::parse("p.md", std::path::Path::new("p.md"), &text) {
        let source = satoshipress::page::clean_source(&text);
        assert!(page.layout.body <= source.len());
        for cut in &page.layout.cuts {
            assert!(cut.start <= cut.end && page.layout.body + cut.end <= source.len());
        }
        assert_eq!(page.layout.cuts.len(), page.paid.len());
        let tags: Vec<String> = page.paid.iter().map(|_| "<p class=\"satoshipay-placeholder\"></p>".to_string()).collect();
        let _ = satoshipress::emit::markdown(&source, &page, &tags);
    }
});
