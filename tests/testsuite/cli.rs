//! The command-line contract: subcommands, help that teaches, `init`, exit codes.

use crate::support::{Site, run_with};

fn run(args: &[&str]) -> crate::support::Run {
    run_with(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>(), &[])
}

#[test]
fn help_lists_the_contract() {
    let r = run(&["--help"]);
    assert!(r.ok());
    for cmd in ["init", "keygen", "check", "build", "goods", "sandbox"] {
        assert!(r.stdout.contains(cmd), "--help lacks {cmd}");
    }
    let build = run(&["build", "--help"]);
    for flag in [
        "--registry",
        "--emit",
        "--out",
        "local",
        "api",
        "html",
        "markdown",
        "file:line",
    ] {
        assert!(
            build.stdout.contains(flag),
            "build --help lacks {flag}:\n{}",
            build.stdout
        );
    }
    for sub in ["list", "plan", "adopt", "prune", "rotate"] {
        assert!(run(&["goods", sub, "--help"]).ok(), "goods {sub} --help");
    }
    let sandbox = run(&["sandbox", "--help"]);
    for flag in [
        "--port",
        "--data",
        "--key",
        "--secret",
        "--fail-next",
        "--drop-next",
        "--latency-ms",
        "/_sandbox/certificate",
    ] {
        assert!(sandbox.stdout.contains(flag), "sandbox --help lacks {flag}");
    }
    let goods = run(&["goods", "list", "--help"]);
    for flag in ["--show-secrets", "--json", "--remote"] {
        assert!(
            goods.stdout.contains(flag),
            "goods list --help lacks {flag}"
        );
    }
    assert!(run(&["--version"]).stdout.starts_with("satoshipress "));
}

#[test]
fn usage_errors_exit_non_zero() {
    let r = run(&["build", "--registry", "cloud"]);
    assert_eq!(r.status.code(), Some(2));
    assert!(r.stderr.contains("cloud"));
    assert!(!run(&["frobnicate"]).ok());
}

#[test]
fn init_makes_a_site_that_builds() {
    let site = Site::new();
    let dir = site.path().join("fresh");
    let d = dir.to_str().unwrap();
    let r = run(&[
        "init",
        d,
        "--base-url",
        "https://fresh.example/",
        "--title",
        "Fresh \"quoted\"",
    ]);
    assert!(r.ok(), "{}", r.stderr);
    for f in [
        "satoshipress.toml",
        "content/posts/hello.md",
        "satoshipress.key",
        ".gitignore",
    ] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    let gitignore = std::fs::read_to_string(dir.join(".gitignore")).unwrap();
    for line in ["/satoshipress.key", "/public/", "/bundle/"] {
        assert!(gitignore.lines().any(|l| l == line), "{line} not ignored");
    }
    let r = run(&["build", d]);
    assert!(r.ok(), "{}", r.stderr);
    assert!(
        !r.stderr.contains("created a new master key"),
        "init made the key already"
    );
    let html = std::fs::read_to_string(dir.join("public/posts/hello/index.html")).unwrap();
    assert!(html.contains("satoshipay-placeholder"));
    assert!(html.contains("Fresh &quot;quoted&quot;"));
    assert!(!html.contains("Everything below the marker"));
    let again = run(&["init", d]);
    assert!(!again.ok() && again.stderr.contains("already holds a site"));
}
