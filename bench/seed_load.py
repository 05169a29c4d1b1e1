#!/usr/bin/env python3
"""Seed-style load against a running berth: N `echo ok > output.txt` jobs uploaded from U users,
C at a time, through POST /upload; waits for every job to complete and checks its zip.

Prints jobs/s (first upload to last completion), upload-to-completed p50/p95 (from the runs'
own enqueued_at/finished_at, so client polling does not distort them), and lost jobs.

    python3 bench/seed_load.py --base http://localhost:5000 --jobs 200 --users 20 --concurrency 8
"""
import argparse, concurrent.futures as cf, io, json, statistics, time, urllib.request, uuid, zipfile
from datetime import datetime

def upload(base, user):
    boundary = uuid.uuid4().hex
    parts = [
        (b'Content-Disposition: form-data; name="file"; filename="run.sh"\r\nContent-Type: application/octet-stream\r\n\r\n', b"#!/bin/bash\necho ok > output.txt\n"),
        (b'Content-Disposition: form-data; name="user_id"\r\n\r\n', str(user).encode()),
        (b'Content-Disposition: form-data; name="service"\r\n\r\n', b"example"),
    ]
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + h + v + b"\r\n" for h, v in parts) + b"--" + boundary.encode() + b"--\r\n"
    req = urllib.request.Request(base + "/upload", data=body, method="POST",
                                 headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)["id"]

def wait_done(base, run_id, deadline):
    while time.time() < deadline:
        req = urllib.request.Request(f"{base}/download/{run_id}", method="HEAD")
        with urllib.request.urlopen(req, timeout=30) as r:
            if r.status == 200:
                with urllib.request.urlopen(f"{base}/download/{run_id}", timeout=30) as z:
                    data = zipfile.ZipFile(io.BytesIO(z.read())).read("output.txt")
                return data == b"ok\n"
            if r.status == 204:
                return False
        time.sleep(0.02)
    return False

def ts(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00"))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="http://localhost:5000")
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=8)
    a = ap.parse_args()
    start = time.time()
    with cf.ThreadPoolExecutor(a.concurrency) as pool:
        ids = list(pool.map(lambda i: upload(a.base, 1 + i % a.users), range(a.jobs)))
    uploaded = time.time()
    deadline = time.time() + 300
    with cf.ThreadPoolExecutor(a.concurrency) as pool:
        ok = list(pool.map(lambda i: wait_done(a.base, i, deadline), ids))
    lat, last = [], None
    for i in ids:
        with urllib.request.urlopen(f"{a.base}/api/v1/runs/{i}", timeout=30) as r:
            run = json.load(r)
        if run["finished_at"]:
            lat.append((ts(run["finished_at"]) - ts(run["enqueued_at"])).total_seconds() * 1000)
            last = max(last or ts(run["finished_at"]), ts(run["finished_at"]))
    first = min(ts(json.load(urllib.request.urlopen(f"{a.base}/api/v1/runs/{i}"))["enqueued_at"]) for i in ids[:a.concurrency])
    span = (last - first).total_seconds()
    q = statistics.quantiles(lat, n=100)
    print(json.dumps({"scenario": "seed_load", "runs": a.jobs, "users": a.users, "concurrency": a.concurrency,
                      "upload_seconds": round(uploaded - start, 3),
                      "runs_per_second": round(a.jobs / span, 1), "p50_ms": round(statistics.median(lat), 1),
                      "p95_ms": round(q[94], 1), "max_ms": round(max(lat), 1), "lost": ok.count(False)}))

if __name__ == "__main__":
    main()
