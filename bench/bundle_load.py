#!/usr/bin/env python3
"""How fast satoshipress-content loads a large bundle, and how much memory it keeps.

    bench/bundle_load.py [GOODS] [SIZE]        (defaults: 100000 1000)

Writes a bundle of GOODS goods of about SIZE bytes of HTML each, starts the release
satoshipress-content on it, and reports the time from start to the first `200` from
/healthz (opening, verifying and decrypting every entry included) and the server's peak
resident memory against the bundle's size. Targets: under a second, under 2x the bundle.
"""
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
goods = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
size = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
subprocess.run(["cargo", "build", "--release", "--locked", "-q", "--bin", "satoshipress-content"], cwd=ROOT, check=True)
with tempfile.TemporaryDirectory() as work:
    bundle = os.path.join(work, "content.spb")
    subprocess.run(["cargo", "bench", "--locked", "-q", "--bench", "make_bundle", "--", bundle, str(goods), str(size)], cwd=ROOT, check=True, capture_output=True)
    bundle_mib = os.path.getsize(bundle) / 2**20
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        p = subprocess.Popen([os.path.join(ROOT, "target/release/satoshipress-content"), "--bundle", bundle, "--listen", "127.0.0.1:0", "--no-watch"],
                             env=dict(os.environ, SATOSHIPRESS_KEY="KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio="), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        addr = p.stdout.readline().strip().removeprefix("listening on ")
        while True:
            try:
                if urllib.request.urlopen(f"{addr}/healthz", timeout=5).status == 200:
                    break
            except OSError:
                time.sleep(0.005)
        elapsed = time.perf_counter() - t
        with open(f"/proc/{p.pid}/status") as f:
            hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024
        r = urllib.request.urlopen(f"{addr}/satoshipay-content/{goods - 1:024x}?paymentCert=secret-{goods - 1}")
        assert r.status == 200
        p.terminate()
        p.wait()
        runs.append((elapsed, hwm))
    runs.sort()
    elapsed, hwm = runs[1]
    print(f"bundle: {goods} goods, {bundle_mib:.1f} MiB; median of 3 starts")
    print(f"start to first healthy answer: {elapsed:.3f} s (target < 1 s)")
    print(f"peak memory: {hwm:.0f} MiB = {hwm / bundle_mib:.2f}x the bundle (target < 2x)")
