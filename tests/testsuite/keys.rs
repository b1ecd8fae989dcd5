//! The master key: created on first use, refused when open to others, never printed, and
//! checked against the lock.

use std::os::unix::fs::PermissionsExt;

use crate::support::{KEY, Site};

#[test]
fn first_build_creates_a_private_git_ignored_key() {
    let site = Site::new();
    site.write("content/p.md", "---\nsatoshipay: { price: 5 }\n---\npaid\n");
    let r = site.run(&["build", "{site}"]);
    assert!(r.ok(), "{}", r.stderr);
    assert!(
        r.stderr.contains("created a new master key"),
        "{}",
        r.stderr
    );
    let key_path = site.path().join("satoshipress.key");
    let mode = std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(
        site.read(".gitignore")
            .lines()
            .any(|l| l == "/satoshipress.key")
    );
    let key = site.read("satoshipress.key");
    let key = key.trim();
    for output in [r.stdout.as_str(), r.stderr.as_str()] {
        assert!(!output.contains(key), "the key was printed");
    }
    for (path, bytes) in site.outputs() {
        assert!(
            !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
            "{path:?} holds the key"
        );
    }
    // The second build uses the same key and changes nothing.
    let r = site.run(&["build", "{site}"]);
    assert!(r.ok() && !r.stderr.contains("created"), "{}", r.stderr);
    assert!(r.stdout.contains("(nothing changed)"), "{}", r.stdout);
}

#[test]
fn a_lost_key_is_not_silently_replaced() {
    let site = Site::new();
    site.write("content/p.md", "---\nsatoshipay: { price: 5 }\n---\npaid\n");
    assert!(site.run(&["build", "{site}"]).ok());
    let before = site.outputs();
    std::fs::remove_file(site.path().join("satoshipress.key")).unwrap();
    let r = site.run(&["build", "{site}"]);
    assert!(!r.ok());
    assert!(r.stderr.contains("restore that key"), "{}", r.stderr);
    assert!(!site.path().join("satoshipress.key").exists());
    assert_eq!(site.outputs(), before);
}

#[test]
fn a_different_key_is_caught_by_the_lock() {
    let site = Site::new();
    site.write("content/p.md", "---\nsatoshipay: { price: 5 }\n---\npaid\n");
    site.build();
    let other = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    let r = site.run_env(&["build", "{site}"], &[("SATOSHIPRESS_KEY", other)]);
    assert!(!r.ok());
    assert!(r.stderr.contains("another master key"), "{}", r.stderr);
    assert!(!r.stderr.contains(other) && !r.stderr.contains(KEY));
}

#[test]
fn key_files_readable_by_others_are_refused() {
    let site = Site::new();
    site.write("content/p.md", "x\n");
    site.write_key();
    std::fs::set_permissions(
        site.path().join("satoshipress.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let r = site.run(&["build", "{site}"]);
    assert!(!r.ok());
    assert!(r.stderr.contains("chmod 600"), "{}", r.stderr);
    assert!(!r.stderr.contains(KEY));
}

#[test]
fn malformed_keys_are_refused_without_echo() {
    let site = Site::new();
    site.write("content/p.md", "x\n");
    let r = site.run_env(
        &["build", "{site}"],
        &[("SATOSHIPRESS_KEY", "not-a-real-key-value")],
    );
    assert!(!r.ok());
    assert!(
        r.stderr.contains("SATOSHIPRESS_KEY") && r.stderr.contains("not valid"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("not-a-real-key-value"));
}

#[test]
fn the_environment_key_wins_over_the_key_file() {
    let site = Site::new();
    site.write("content/p.md", "---\nsatoshipay: { price: 5 }\n---\npaid\n");
    site.write("satoshipress.key", "garbage\n");
    std::fs::set_permissions(
        site.path().join("satoshipress.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    site.build();
    site.bundle();
}

#[test]
fn keygen_prints_or_writes_a_new_key() {
    let site = Site::new();
    let r = site.run(&["keygen"]);
    assert!(r.ok());
    let printed = r.stdout.trim();
    assert!(
        satoshipress::key::MasterKey::from_base64(printed, &satoshipress::key::KeyOrigin::Env)
            .is_ok()
    );
    assert_ne!(
        printed,
        site.run(&["keygen"]).stdout.trim(),
        "two keys are the same"
    );
    let out = site.path().join("keys/site.key");
    let r = site.run(&["keygen", "--out", out.to_str().unwrap()]);
    assert!(r.ok(), "{}", r.stderr);
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(site.read("keys/.gitignore").contains("/site.key"));
    assert!(
        !r.stdout
            .contains(std::fs::read_to_string(&out).unwrap().trim())
    );
    let r = site.run(&["keygen", "--out", out.to_str().unwrap()]);
    assert!(!r.ok(), "an existing key file was overwritten");
}
