//! The front-matter splitter and parser: any text splits or is refused with a line, and
//! parsing never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match satoshipress::front_matter::split(&text) {
        Ok(split) => {
            assert!(split.body_line >= 1);
            if let Err(problems) = satoshipress::front_matter::parse(&split) {
                assert!(!problems.is_empty());
            }
        }
        Err(problem) => assert_eq!(problem.line, 1),
    }
});
