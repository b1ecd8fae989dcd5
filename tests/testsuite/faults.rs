//! Faults: a build killed with SIGKILL at random moments never leaves a half-written
//! `public/`, bundle or lock — each is always wholly the old one or wholly the new one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{KEY, Rng, Site};

fn write_state(site: &Site, version: u32) {
    for p in 0..150 {
        let paid = if p % 3 == 0 {
            format!("satoshipay: {{ price: {} }}\n", 100 + p)
        } else {
            String::new()
        };
        let marker = if p % 3 == 0 {
            "\n<!-- satoshipay -->\n\n"
        } else {
            "\n"
        };
        site.write(
            &format!("content/d{}/p{p:03}.md", p % 7),
            &format!("---\ntitle: Page {p}\n{paid}---\nFree text of page {p}, version {version}.\n{marker}Paid or not, page {p} version {version}. {}\n", "More words. ".repeat(40)),
        );
    }
    if version % 2 == 1 {
        site.write(
            "content/extra.md",
            "---\ntitle: Extra\n---\nOnly in odd versions.\n",
        );
    } else {
        let _ = std::fs::remove_file(site.path().join("content/extra.md"));
    }
}

/// The outputs of a build of `version`: (public tree, bundle, lock).
type Outputs = (BTreeMap<PathBuf, Vec<u8>>, Vec<u8>, Vec<u8>);

fn outputs(site: &Site) -> Outputs {
    let public: BTreeMap<PathBuf, Vec<u8>> = crate::support::walk(&site.path().join("public"))
        .into_iter()
        .map(|p| {
            (
                p.strip_prefix(site.path()).unwrap().to_path_buf(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    let read = |rel: &str| std::fs::read(site.path().join(rel)).unwrap_or_default();
    (
        public,
        read("bundle/content.spb"),
        read("satoshipress.lock"),
    )
}

fn expected(version: u32) -> Outputs {
    let site = Site::new();
    write_state(&site, version);
    site.build();
    outputs(&site)
}

#[test]
fn sigkill_at_random_moments_leaves_whole_outputs() {
    let (a, b) = (expected(0), expected(1));
    assert_ne!(a.0, b.0);
    assert_ne!(a.1, b.1);
    let site = Site::new();
    write_state(&site, 0);
    site.build();
    let mut rng = Rng(0x6b1_11ed);
    let rounds: usize = std::env::var("SATOSHIPRESS_KILL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let mut killed_mid_way = 0;
    for round in 0..rounds {
        write_state(&site, (round % 2 + 1) as u32 % 2);
        let mut child = Command::new(env!("CARGO_BIN_EXE_satoshipress"))
            .args(["build", site.path().to_str().unwrap(), "--quiet"])
            .env("SATOSHIPRESS_KEY", KEY)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(rng.below(250_000) as u64));
        if child.try_wait().unwrap().is_none() {
            killed_mid_way += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        let (public, bundle, lock) = outputs(&site);
        assert!(
            public == a.0 || public == b.0,
            "round {round}: public/ is neither the old nor the new site"
        );
        assert!(
            bundle == a.1 || bundle == b.1,
            "round {round}: the bundle is half-written"
        );
        assert!(
            lock == a.2 || lock == b.2,
            "round {round}: the lock is half-written"
        );
        assert!(
            !leftover_in(&site.path().join("public")),
            "round {round}: staging files inside public/"
        );
    }
    assert!(
        killed_mid_way >= rounds / 4,
        "only {killed_mid_way} of {rounds} kills landed during a build"
    );
    // And the next build completes normally.
    write_state(&site, 1);
    site.build();
    assert_eq!(outputs(&site), b);
}

fn leftover_in(dir: &Path) -> bool {
    crate::support::walk(dir).iter().any(|p| {
        p.to_string_lossy().contains(".satoshipress-staging")
            || p.to_string_lossy().ends_with(".tmp")
    })
}

/// A small tmpfs mounted for the test, unmounted on drop. Needs root, as `scripts/test` runs.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size_kib: u32) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k"), "tmpfs"])
            .arg(at)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            ok,
            "mounting a tmpfs failed: this test needs root (scripts/test runs as root in CI)"
        );
        Tmpfs(at.to_path_buf())
    }

    /// KiB in use, as `df` sees it.
    fn used_kib(&self) -> u64 {
        let out = Command::new("df")
            .args(["--output=used", "-k"])
            .arg(&self.0)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    fn resize(&self, size_kib: u64) {
        assert!(
            Command::new("mount")
                .args(["-o", &format!("remount,size={size_kib}k")])
                .arg(&self.0)
                .status()
                .unwrap()
                .success()
        );
    }

    fn read_only(&self) {
        assert!(
            Command::new("mount")
                .args(["-o", "remount,ro"])
                .arg(&self.0)
                .status()
                .unwrap()
                .success()
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_or_a_read_only_output_is_a_clear_error_and_keeps_the_old_outputs() {
    for case in ["full", "read-only"] {
        let site = Site::new();
        write_state(&site, 0);
        let mnt = site.path().join("mnt");
        let fs = Tmpfs::mount(&mnt, 65536);
        let out = mnt.join("public");
        let build = |site: &Site| {
            site.run_env(
                &["build", "{site}", "--out", out.to_str().unwrap()],
                &[("SATOSHIPRESS_KEY", KEY)],
            )
        };
        let first = build(&site);
        assert!(
            first.ok(),
            "{case}: the first build failed: {}",
            first.stderr
        );
        // Room for the output and a half: the staging copy of the next build cannot fit.
        let used = fs.used_kib();
        fs.resize(used + used / 2);
        let before_public: Vec<(PathBuf, Vec<u8>)> = crate::support::walk(&out)
            .into_iter()
            .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
            .collect();
        let before = site.outputs();
        write_state(&site, 1);
        if case == "read-only" {
            fs.read_only();
        }
        let r = build(&site);
        assert!(!r.ok(), "{case}: the build succeeded");
        let wanted = if case == "full" {
            "No space left on device"
        } else {
            "Read-only file system"
        };
        assert!(
            r.stderr.contains(wanted) && r.stderr.contains(mnt.to_str().unwrap()),
            "{case}: unclear error:\n{}",
            r.stderr
        );
        assert_eq!(
            site.outputs(),
            before,
            "{case}: the bundle or the lock changed"
        );
        let after_public: Vec<(PathBuf, Vec<u8>)> = crate::support::walk(&out)
            .into_iter()
            .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
            .collect();
        assert_eq!(after_public, before_public, "{case}: the output changed");
    }
}
