#!/usr/bin/env python3
"""Requests a sync sends to the Digital Goods API, counted by the real sandbox.

    bench/sync.py [SECTIONS]        (default: 10000, as 100 pages of SECTIONS/100 sections)

Runs `satoshipress build --registry api` three times against `satoshipress sandbox`: the first
sync, an unchanged re-sync, and a re-sync after one price change, and prints the requests
and mutating requests of each (a batch counts as one request) with the wall time.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sections = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
per_page = max(1, sections // 100)
subprocess.run(["cargo", "build", "--release", "--locked", "-q", "--bin", "satoshipress"], cwd=ROOT, check=True)
exe = os.path.join(ROOT, "target/release/satoshipress")

with tempfile.TemporaryDirectory() as work:
    site = os.path.join(work, "site")
    os.makedirs(os.path.join(site, "content"))
    with open(os.path.join(site, "satoshipress.toml"), "w") as f:
        f.write('[site]\nbase_url = "https://sync.example"\n')
    for p in range(100):
        decl = "".join(f"    s{s}: {{ price: {10 + s} }}\n" for s in range(per_page))
        body = "".join(f"<!-- satoshipay:s{s} -->\nPaid {p}/{s}.\n<!-- /satoshipay:s{s} -->\n\n" for s in range(per_page))
        with open(os.path.join(site, "content", f"p{p:03}.md"), "w") as f:
            f.write(f"---\ntitle: Page {p}\nsatoshipay:\n  sections:\n{decl}---\nFree.\n\n{body}")
    sandbox = subprocess.Popen([exe, "sandbox", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = sandbox.stdout.readline().strip().removeprefix("listening on ")
    env = dict(os.environ, SATOSHIPRESS_KEY="KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=", SATOSHIPAY_API_URL=f"{url}/v1",
               SATOSHIPAY_API_KEY="sandbox-key", SATOSHIPAY_API_SECRET="sandbox-secret")

    def stats():
        return json.load(urllib.request.urlopen(f"{url}/_sandbox/stats"))

    def reset():
        urllib.request.urlopen(urllib.request.Request(f"{url}/_sandbox/stats/reset", method="POST"))

    print(f"{100 * per_page} sections on 100 pages; batches of 100")
    for label, change in [("first sync", None), ("unchanged re-sync", None), ("one price changed", "p042.md")]:
        if change:
            path = os.path.join(site, "content", change)
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write(text.replace("s0: { price: 10 }", "s0: { price: 11 }", 1))
        reset()
        t = time.perf_counter()
        subprocess.run([exe, "build", site, "--registry", "api", "--quiet"], env=env, check=True)
        s = stats()
        print(f"{label:20} {s['requests']:5} requests, {s['mutating']:4} mutating ({s['batch_entries']} batch entries), {time.perf_counter() - t:.2f} s")
    sandbox.terminate()
