#!/usr/bin/env python3
"""Peak memory of a build against the size of the site, in one run:

    bench/memory.py [SIZES...]          (default: 1000 10000 100000)

The last row repeats the middle size with every page's body made twenty times longer:
peak memory must not follow the bodies.

For each size, generates a site (bench/gen-site) and measures the peak resident memory of
`satoshipress build` cold (nothing built yet) and warm (nothing changed, from the build
cache), and of `satoshipress check`. Prints them beside the site's Markdown, its largest
page and its output index (the lock: one line per good; listings hold one entry per page),
and the growth per page between sizes: the build streams, so memory should grow with the
index, not with the Markdown. Sites live in BENCH_DIR (default /dev/shm).
"""
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sizes = [int(a) for a in sys.argv[1:]] or [1000, 10000, 100000]
KEY = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio="


def peak(cmd, env):
    """(seconds, peak RSS in MiB)."""
    import time
    t = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        if status != 0:
            err.seek(0)
            sys.exit(f"{' '.join(cmd)} failed: {err.read().decode()[:2000]}")
    return time.perf_counter() - t, usage.ru_maxrss / 1024


subprocess.run(["cargo", "build", "--release", "--locked", "-q", "--bin", "satoshipress"], cwd=ROOT, check=True)
exe = os.path.join(ROOT, "target/release/satoshipress")
env = dict(os.environ, SATOSHIPRESS_KEY=KEY)
bench_dir = os.environ.get("BENCH_DIR") or ("/dev/shm" if os.path.isdir("/dev/shm") else None)
rows = []
with tempfile.TemporaryDirectory(dir=bench_dir) as work:
    fat = sizes[len(sizes) // 2]
    for n, longer in [(n, False) for n in sizes] + [(fat, True)]:
        site = os.path.join(work, f"site{n}{'-long' if longer else ''}")
        subprocess.run([os.path.join(ROOT, "bench/gen-site"), str(n), site], check=True, stdout=subprocess.DEVNULL)
        shutil.rmtree(os.path.join(site, "hugo"))
        if longer:
            for d, _, fs in os.walk(os.path.join(site, "content")):
                for f in fs:
                    path = os.path.join(d, f)
                    text = open(path).read()
                    head, sep, body = text.partition("\n---\n")
                    # Free text before the body's first marker: the same words, twenty times.
                    free = "\n\n".join(p for p in body.split("\n\n") if p and p[0].isalpha())
                    open(path, "w").write(head + sep + (free + "\n\n") * 20 + body)
        md = [os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.path.join(site, "content")) for f in fs]
        cold = peak([exe, "build", site, "--quiet"], env)
        warm = peak([exe, "build", site, "--quiet"], env)
        check = peak([exe, "check", site], env)
        lock = os.path.getsize(os.path.join(site, "satoshipress.lock"))
        rows.append((n, sum(md), max(md), lock, cold, warm, check, longer))
        shutil.rmtree(site)

print(f"{'pages':>8}  {'Markdown':>9} {'largest':>9} {'lock':>9} {'cold: time':>11} {'peak':>9} {'warm: time':>11} {'peak':>9} {'check: peak':>12}")
for n, md, big, lock, cold, warm, check, longer in rows:
    print(f"{n:8d}{'*' if longer else ' '}{md / 2**20:8.1f}MiB {big / 1024:7.1f}KiB {lock / 2**20:7.1f}MiB {cold[0]:10.2f}s {cold[1]:7.0f}MiB {warm[0]:10.2f}s {warm[1]:7.0f}MiB {check[1]:10.0f}MiB")
print("* the same pages with bodies twenty times longer")
plain = [r for r in rows if not r[7]]
for (n0, md0, _, _, c0, w0, k0, _), (n1, md1, _, _, c1, w1, k1, _) in zip(plain, plain[1:]):
    per = lambda a, b: (b - a) * 2**20 / (n1 - n0)
    print(f"from {n0} to {n1} pages, per added page: Markdown {per(md0 / 2**20, md1 / 2**20) / 1024:.1f} KiB; "
          f"peak memory cold {per(c0[1], c1[1]) / 1024:.1f} KiB, warm {per(w0[1], w1[1]) / 1024:.1f} KiB, check {per(k0[1], k1[1]) / 1024:.1f} KiB")
