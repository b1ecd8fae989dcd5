//! Test helpers: a site in a temporary directory, the real binary, file-tree snapshots.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The default config of test sites.
pub const CONFIG: &str = "[site]\ntitle = \"Test site\"\nbase_url = \"https://test.example\"\n";

/// A fixed master key for tests (base64 of 32 bytes of 0x2a).
pub const KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";

/// A site in a temporary directory.
pub struct Site {
    pub tmp: tempfile::TempDir,
}

impl Site {
    /// An empty site with the default config and a content directory.
    pub fn new() -> Site {
        let site = Site {
            tmp: tempfile::tempdir().expect("tempdir"),
        };
        site.write("satoshipress.toml", CONFIG);
        std::fs::create_dir_all(site.path().join("content")).unwrap();
        site
    }

    /// A copy of the repository's example site.
    pub fn example() -> Site {
        let site = Site {
            tmp: tempfile::tempdir().expect("tempdir"),
        };
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("example-site");
        for entry in walk(&src) {
            let rel = entry.strip_prefix(&src).unwrap();
            let top = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .to_string();
            if ["public", "bundle", "satoshipress.lock", "satoshipress.key"].contains(&top.as_str())
            {
                continue;
            }
            let to = site.path().join(rel);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&entry, &to).unwrap();
        }
        site
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Writes a file (parents created).
    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// Writes a key file with mode 0600.
    pub fn write_key(&self) {
        use std::os::unix::fs::PermissionsExt;
        self.write("satoshipress.key", &format!("{KEY}\n"));
        std::fs::set_permissions(
            self.path().join("satoshipress.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }

    /// Reads a file as text.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Runs `satoshipress ARGS` in no particular directory, with the site path available as
    /// `{site}` in the arguments.
    pub fn run(&self, args: &[&str]) -> Run {
        let site = self.path().to_string_lossy().to_string();
        let args: Vec<String> = args.iter().map(|a| a.replace("{site}", &site)).collect();
        run_with(&args, &[])
    }

    /// Like `run`, with extra environment variables.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let site = self.path().to_string_lossy().to_string();
        let args: Vec<String> = args.iter().map(|a| a.replace("{site}", &site)).collect();
        run_with(&args, env)
    }

    /// `satoshipress build SITE --emit markdown --out OUT` with the test key.
    pub fn build_markdown(&self, out: &Path) -> Run {
        self.run_env(
            &[
                "build",
                "{site}",
                "--emit",
                "markdown",
                "--out",
                out.to_str().unwrap(),
            ],
            &[("SATOSHIPRESS_KEY", KEY)],
        )
    }

    /// `satoshipress build SITE` with the test key; panics unless it succeeds.
    pub fn build(&self) -> Run {
        let r = self.run_env(&["build", "{site}"], &[("SATOSHIPRESS_KEY", KEY)]);
        assert!(r.ok(), "build failed:\n{}", r.stderr);
        r
    }

    /// `satoshipress build SITE` with the test key, expected to fail.
    pub fn build_fails(&self) -> Run {
        let r = self.run_env(&["build", "{site}"], &[("SATOSHIPRESS_KEY", KEY)]);
        assert!(
            !r.ok(),
            "build succeeded but should have failed:\n{}",
            r.stdout
        );
        r
    }

    /// Every file under the site (relative path → bytes), outputs included.
    pub fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        walk(self.path())
            .into_iter()
            .map(|p| {
                (
                    p.strip_prefix(self.path()).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect()
    }

    /// Every output file: public/, the bundle and the lock (relative path → bytes).
    pub fn outputs(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        self.snapshot()
            .into_iter()
            .filter(|(p, _)| {
                p.starts_with("public")
                    || p.starts_with("bundle")
                    || p == Path::new("satoshipress.lock")
            })
            .collect()
    }

    /// Opens the built bundle with the test key.
    pub fn bundle(&self) -> satoshipress::bundle::Bundle {
        let key =
            satoshipress::key::MasterKey::from_base64(KEY, &satoshipress::key::KeyOrigin::Env)
                .unwrap();
        satoshipress::bundle::Bundle::open_file(&key, &self.path().join("bundle/content.spb"))
            .unwrap()
    }
}

/// Every file below `dir`, sorted.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The result of running the binary.
pub struct Run {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.status.success()
    }
}

/// Runs `satoshipress` with a clean environment (no key, no credentials inherited).
pub fn run_with(args: &[String], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_satoshipress"));
    cmd.args(args)
        .env_remove("SATOSHIPRESS_KEY")
        .env_remove("SATOSHIPAY_API_URL")
        .env_remove("SATOSHIPAY_API_KEY")
        .env_remove("SATOSHIPAY_API_SECRET");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run satoshipress");
    Run {
        status,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// The attributes of every content-item tag in `html`, in order.
pub fn content_items(html: &str) -> Vec<BTreeMap<String, String>> {
    let mut items = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<p class=\"satoshipay-placeholder\"") {
        let tag_end = rest[i..].find('>').unwrap() + i;
        let tag = &rest[i..tag_end];
        assert!(
            rest[tag_end..].starts_with("></p>"),
            "content item is not an empty element: {}",
            &rest[i..tag_end + 10]
        );
        let mut attrs = BTreeMap::new();
        for part in tag.split(" data-sp-").skip(1) {
            let (name, value) = part.split_once("=\"").unwrap();
            attrs.insert(name.to_string(), value.trim_end_matches('"').to_string());
        }
        items.push(attrs);
        rest = &rest[tag_end..];
    }
    items
}

/// A small deterministic random generator (xorshift64*), for generated test sites.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Spawns `cmd` with stdout piped and returns it with the URL of its first stdout line,
/// `listening on URL` (the contract of every long-running satoshipress command).
pub fn spawn_listening(cmd: &mut Command) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("no `listening on` line, got {line:?}"))
        .to_string();
    (child, url)
}
