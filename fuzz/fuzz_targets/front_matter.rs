//! The front-matter splitter and parser: any text splits or is refused with a line, parsing
//! never panics, and the quick reader of plain YAML reads exactly what the full parser does.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match satoshipress::front_matter::split(&text) {
        Ok(split) => {
            assert!(split.body_line >= 1);
            assert!(
                satoshipress::front_matter::readers_agree(split.front),
                "the quick reader and the full parser differ"
            );
            if let Err(problems) = satoshipress::front_matter::parse(&split) {
                assert!(!problems.is_empty());
            }
        }
        Err(problem) => assert_eq!(problem.line, 1),
    }
});
