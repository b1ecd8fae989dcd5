#!/usr/bin/env python3
"""Build throughput, side by side in one run on one generated site:

  (a) the limits (cargo bench --bench limit): the same Markdown rendered by pulldown-cmark
      alone in memory on one core; and the same read from disk, rendered and written one
      directory per page on every core (what no generator writing these pages can beat)
  (b) satoshipress build, cold (no outputs, no lock, no cache) and warm (nothing changed)
  (c) Hugo (Debian package) building the same pages

    bench/build.py [PAGES] [ROUNDS]          (defaults: 10000 3)

Prints pages/s and peak memory (max RSS) of each, medians of ROUNDS runs, and the ratios.
The site and every output live in BENCH_DIR (default /dev/shm, a tmpfs, when there is one):
the virtual disks of these machines throttle writes, so a run on disk measures the disk's
mood — the same command took 0.4 s and 3.2 s minutes apart. Set BENCH_DIR=/tmp to see it.
"""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pages = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
KEY = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio="


def timed(cmd, **kw):
    """(seconds, peak RSS in MiB) of one command."""
    t = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, **kw)
        _, status, usage = os.wait4(p.pid, 0)
        elapsed = time.perf_counter() - t
        if status != 0:
            err.seek(0)
            sys.exit(f"{' '.join(cmd)} failed: {err.read().decode()[:2000]}")
    return elapsed, usage.ru_maxrss / 1024


if shutil.which("hugo") is None:
    subprocess.run(["apt-get", "install", "-y", "-qq", "hugo"], check=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
subprocess.run(["cargo", "build", "--release", "--locked", "-q", "--bin", "satoshipress"], cwd=ROOT, check=True)
subprocess.run(["cargo", "bench", "--locked", "-q", "--bench", "limit", "--no-run"], cwd=ROOT, check=True, capture_output=True)
exe = os.path.join(ROOT, "target/release/satoshipress")
env = dict(os.environ, SATOSHIPRESS_KEY=KEY)
hugo_version = subprocess.run(["hugo", "version"], capture_output=True, text=True).stdout.split()[1]

bench_dir = os.environ.get("BENCH_DIR") or ("/dev/shm" if os.path.isdir("/dev/shm") else None)
with tempfile.TemporaryDirectory(dir=bench_dir) as work:
    site = os.path.join(work, "site")
    subprocess.run([os.path.join(ROOT, "bench/gen-site"), str(pages), site], check=True)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.path.join(site, "content")) for f in fs)
    limit_out = subprocess.run(["cargo", "bench", "--locked", "-q", "--bench", "limit", "--", site, str(max(rounds, 3)), os.path.join(work, "limit-out")], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    limit_pps = float(re.search(r"limit: .*= ([0-9.]+) pages/s", limit_out).group(1))
    files_pps = float(re.search(r"limit with files: .*= ([0-9.]+) pages/s", limit_out).group(1))

    cold, warm, hugo = [], [], []
    for _ in range(rounds):
        for out in ("public", "bundle", "satoshipress.lock", ".satoshipress"):
            p = os.path.join(site, out)
            shutil.rmtree(p) if os.path.isdir(p) else (os.path.exists(p) and os.remove(p))
        cold.append(timed([exe, "build", site, "--quiet"], env=env))
        warm.append(timed([exe, "build", site, "--quiet"], env=env))
        dest = os.path.join(work, "hugo-public")
        shutil.rmtree(dest, ignore_errors=True)
        hugo.append(timed(["hugo", "--source", os.path.join(site, "hugo"), "--destination", dest, "--quiet"]))

    med = lambda runs: (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
    (c_s, c_m), (w_s, w_m), (h_s, h_m) = med(cold), med(warm), med(hugo)
    print(f"site: {pages} pages, {size / 2**20:.1f} MiB of Markdown; {os.cpu_count()} cores; in {work}; medians of {rounds} rounds")
    print(f"{'':34} {'pages/s':>10} {'time':>9} {'peak RSS':>10}")
    print(f"{'pulldown-cmark alone (limit)':34} {limit_pps:10.0f} {pages / limit_pps:8.3f}s {'-':>10}")
    print(f"{'limit with the files (read+write)':34} {files_pps:10.0f} {pages / files_pps:8.3f}s {'-':>10}")
    print(f"{'satoshipress build, cold':34} {pages / c_s:10.0f} {c_s:8.3f}s {c_m:8.0f} MiB")
    print(f"{'satoshipress build, warm':34} {pages / w_s:10.0f} {w_s:8.3f}s {w_m:8.0f} MiB")
    print(f"{'hugo ' + hugo_version:34} {pages / h_s:10.0f} {h_s:8.3f}s {h_m:8.0f} MiB")
    print(f"ratio cold build / limit:  {c_s / (pages / limit_pps):.2f}x the time (target <= 1.5x)")
    print(f"ratio cold build / limit with the files:  {c_s / (pages / files_pps):.2f}x the time")
    print(f"ratio warm build / limit with the files:  {w_s / (pages / files_pps):.2f}x the time")
    print(f"ratio hugo / cold build:   {h_s / c_s:.2f}x (above 1: satoshipress is faster)")
