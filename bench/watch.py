#!/usr/bin/env python3
"""Incremental rebuild latency of `satoshipress watch` on a generated site.

    bench/watch.py [PAGES] [EDITS]        (defaults: 10000 20)

Generates a site with bench/gen-site, starts the release `satoshipress watch`, then edits one
page EDITS times (a body edit that leaves listings alone, and every fifth a title edit that
changes them) and measures, for each, the time from writing the Markdown file to the updated
HTML being on disk — the file watcher's debounce (50 ms) included — and the rebuild time the
watcher reports. Prints medians and the 90th percentile.
"""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pages = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
edits = int(sys.argv[2]) if len(sys.argv) > 2 else 20
subprocess.run(["cargo", "build", "--release", "--locked", "-q", "--bin", "satoshipress"], cwd=ROOT, check=True)
exe = os.path.join(ROOT, "target/release/satoshipress")

with tempfile.TemporaryDirectory() as work:
    site = os.path.join(work, "site")
    subprocess.run([os.path.join(ROOT, "bench/gen-site"), str(pages), site], check=True)
    env = dict(os.environ, SATOSHIPRESS_KEY="KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=")
    proc = subprocess.Popen([exe, "watch", site], env=env, stderr=subprocess.PIPE, text=True)
    lines = []
    ready = threading.Event()

    def read():
        for line in proc.stderr:
            lines.append(line)
            if "watching" in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    t = time.perf_counter()
    ready.wait(600)
    print(f"site: {pages} pages; first full build {time.perf_counter() - t:.2f} s ({lines[0].strip()})")
    time.sleep(0.5)
    # A free page: a body edit at its end changes that page alone.
    name = next(f"p{i:06}" for i in range(100) if "satoshipay" not in open(os.path.join(site, f"content/posts/d0000/p{i:06}.md")).read())
    src = os.path.join(site, f"content/posts/d0000/{name}.md")
    out = os.path.join(site, f"public/posts/d0000/{name}/index.html")
    original = open(src).read()
    latencies, body_ms, title_ms = [], [], []
    for i in range(edits):
        marker = f"EDIT{i:04}X"
        if i % 5 == 4:
            text = re.sub(r'title: "([^"]*)"', f'title: "\\1 {marker}"', original, count=1)
        else:
            text = original + f"\n{marker} was added at the end.\n"
        before = len(lines)
        t0 = time.perf_counter()
        with open(src, "w") as f:
            f.write(text)
        while True:
            try:
                if marker in open(out).read():
                    break
            except FileNotFoundError:
                pass
            if time.perf_counter() - t0 > 30:
                sys.exit(f"edit {i} never showed up; watcher said: {''.join(lines[before:])}")
            time.sleep(0.0005)
        latencies.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.3)
        for line in lines[before:]:
            m = re.search(r"rebuilt: .* in ([0-9.]+) ms", line)
            if m:
                (title_ms if i % 5 == 4 else body_ms).append(float(m.group(1)))
    proc.terminate()
    q = lambda xs, p: sorted(xs)[min(len(xs) - 1, int(len(xs) * p))]
    print(f"file written → HTML updated (debounce included): median {statistics.median(latencies):.1f} ms, p90 {q(latencies, 0.9):.1f} ms over {edits} edits")
    if body_ms:
        print(f"rebuild, body edit (that page only):            median {statistics.median(body_ms):.1f} ms")
    if title_ms:
        print(f"rebuild, title edit (listings, feed, sitemap):   median {statistics.median(title_ms):.1f} ms")
