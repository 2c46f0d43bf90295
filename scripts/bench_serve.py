"""Load test of the verification service: latency and throughput, batched vs unbatched, answers checked.

    python scripts/bench_serve.py --requests 200 --clients 8                 # batched, then unbatched
    python scripts/bench_serve.py --requests 200 --clients 8 --modes batched --json out.json

Starts ``python -m sigver.serve`` on loopback (a real uvicorn server, with a token) for each mode: ``batched``
(the defaults: concurrent verifications share forward passes) and ``unbatched`` (``--batch-size 1``: one
forward pass per request). Enrols one synthetic writer over HTTP (5 references, seed ``--seed``), then
``--clients`` threads send ``--requests`` verifications of one scan each (genuine signatures and skilled
forgeries of that writer, in turn) on keep-alive connections. Prints p50 / p99 latency and throughput per mode
and the batched / unbatched throughput ratio, and checks every answer against the Python API
(``sigver.verify.verify`` on the same user file and scans): same decision, score within 1e-4 (features of a
batch equal a lone image's up to float32 rounding). Exit status 1 if any answer differs.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MODES = {"batched": [], "unbatched": ["--batch-size", "1", "--batch-wait-ms", "0"]}
SCORE_TOLERANCE = 1e-4


def multipart(field: str, files) -> tuple:
    """Body and content type of a multipart/form-data request with ``files`` [(name, bytes)] under ``field``."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, data in files:
        parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\n"
                     f"Content-Type: image/png\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def request(conn: http.client.HTTPConnection, method: str, path: str, token: str, body=None, ctype=None):
    headers = {"Authorization": f"Bearer {token}"}
    if ctype:
        headers["Content-Type"] = ctype
    conn.request(method, path, body=body, headers=headers)
    res = conn.getresponse()
    data = json.loads(res.read() or b"null")
    if res.status >= 300:
        raise RuntimeError(f"{method} {path}: {res.status} {data}")
    return data


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(store: Path, token_file: Path, extra, device: str, model_path=None):
    port = free_port()
    cmd = [sys.executable, "-m", "sigver.serve", "--store", str(store), "--port", str(port), "--token-file",
           str(token_file), "--device", device, "--log-level", "warning", *extra]
    if model_path:
        cmd += ["--model-path", str(model_path)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    log = open(store.parent / f"server-{port}.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}): {Path(log.name).read_text()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                conn.close()
                return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the server did not answer /health within 120 s")


def stop_server(proc) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def scans(seed: int):
    """PNG bytes: 5 references and 8 questioned scans (4 genuine, 4 skilled forgeries) of one synthetic writer."""
    from sigver.datasets import SyntheticSignatures
    from sigver.datasets.synthetic_render import encode_png

    ds = SyntheticSignatures(n_users=1, genuine=9, forgeries=4, seed=seed)
    genuine = [encode_png(ds.load(i)) for i in ds.list_genuine(1)]
    skilled = [encode_png(ds.load(i)) for i in ds.list_skilled(1)]
    refs = [(f"ref{i + 1}.png", g) for i, g in enumerate(genuine[:5])]
    questioned = [(f"genuine{i + 1}.png", g) for i, g in enumerate(genuine[5:])] + \
                 [(f"forgery{i + 1}.png", f) for i, f in enumerate(skilled)]
    return refs, questioned


def load(port: int, token: str, questioned, n_requests: int, clients: int):
    """Send ``n_requests`` one-scan verifications from ``clients`` threads; answers and latencies (s)."""
    bodies = [multipart("images", [q]) for q in questioned]
    answers, latencies = [None] * n_requests, [0.0] * n_requests
    counter = iter(range(n_requests))
    lock = threading.Lock()

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            body, ctype = bodies[i % len(bodies)]
            t = time.perf_counter()
            answers[i] = request(conn, "POST", "/users/bench/verify", token, body, ctype)
            latencies[i] = time.perf_counter() - t
        conn.close()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for f in [pool.submit(client) for _ in range(clients)]:
            f.result()
    return answers, np.array(latencies), time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    p.add_argument("--model-path", default=None, help="default: the shipped model")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=7, help="synthetic writer's seed")
    p.add_argument("--json", default=None, help="write the figures here")
    args = p.parse_args(argv)

    from sigver.verify import load_user, verify

    refs, questioned = scans(args.seed)
    out = {"requests": args.requests, "clients": args.clients, "device": args.device,
           "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs", "modes": {}}
    with tempfile.TemporaryDirectory(prefix="sigver-bench-serve-") as tmp:
        tmp = Path(tmp)
        token = secrets.token_urlsafe(24)
        (tmp / "token").write_text(token + "\n")
        store = tmp / "store"
        expected = None
        for mode in args.modes:
            proc, port = start_server(store, tmp / "token", MODES[mode], args.device, args.model_path)
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
                if expected is None:  # enrol once; the next server finds the user in the store
                    t = time.perf_counter()
                    body, ctype = multipart("references", refs)
                    request(conn, "POST", "/users/bench", token, body, ctype)
                    out["enroll_seconds"] = round(time.perf_counter() - t, 3)
                    (user_file,) = (store / "users").glob("*.npz")
                    qdir = tmp / "questioned"
                    qdir.mkdir()
                    for name, data in questioned:
                        (qdir / name).write_bytes(data)
                    api = verify(load_user(user_file), [qdir / n for n, _ in questioned], device=args.device)
                    expected = [{"image": n, "score": r["score"], "accepted": r["accepted"]}
                                for (n, _), r in zip(questioned, api)]
                # a new connection: the one above may have idled past the server's keep-alive timeout while
                # the Python API computed the expected answers
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
                # warm-up (first forward passes, pre-processing kernels)
                for q in questioned[:2]:
                    body, ctype = multipart("images", [q])
                    request(conn, "POST", "/users/bench/verify", token, body, ctype)
                before = request(conn, "GET", "/health", token)["batching"]
                answers, lat, wall = load(port, token, questioned, args.requests, args.clients)
                conn.close()  # idle during the load: past the server's keep-alive timeout
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
                after = request(conn, "GET", "/health", token)["batching"]
            except Exception:
                print(Path(tmp / f"server-{port}.log").read_text()[-3000:], file=sys.stderr)
                raise
            finally:
                stop_server(proc)
            mismatches = []
            for i, a in enumerate(answers):
                (r,) = a["results"]
                e = expected[i % len(expected)]
                if r["image"] != e["image"] or r["accepted"] != e["accepted"] or \
                        abs(r["score"] - e["score"]) > SCORE_TOLERANCE:
                    mismatches.append({"request": i, "got": r, "expected": e})
            passes = after["batches"] - before["batches"]
            out["modes"][mode] = {
                "p50_ms": round(1000 * float(np.percentile(lat, 50)), 1),
                "p99_ms": round(1000 * float(np.percentile(lat, 99)), 1),
                "throughput_per_s": round(args.requests / wall, 2), "wall_s": round(wall, 2),
                "forward_passes": passes, "mean_batch": round((after["images"] - before["images"]) / max(passes, 1), 2),
                "answers": len(answers), "mismatches": len(mismatches), "first_mismatches": mismatches[:3],
                "max_score_diff": max(abs(a["results"][0]["score"] - expected[i % len(expected)]["score"])
                                      for i, a in enumerate(answers))}
    print(f"{args.requests} verifications from {args.clients} clients, {out['machine']}, device {args.device}")
    print(f"{'mode':<10} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'passes':>7} {'batch':>6} {'mismatch':>9}")
    for mode, m in out["modes"].items():
        print(f"{mode:<10} {m['p50_ms']:>8} {m['p99_ms']:>8} {m['throughput_per_s']:>8} {m['forward_passes']:>7} "
              f"{m['mean_batch']:>6} {m['mismatches']:>9}")
    if {"batched", "unbatched"} <= set(out["modes"]):
        out["batched_vs_unbatched"] = round(out["modes"]["batched"]["throughput_per_s"] /
                                            out["modes"]["unbatched"]["throughput_per_s"], 2)
        print(f"batched / unbatched throughput: {out['batched_vs_unbatched']}x")
    print(f"every answer equals the Python API's (decision, score within {SCORE_TOLERANCE}): "
          f"{all(m['mismatches'] == 0 for m in out['modes'].values())}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0 if all(m["mismatches"] == 0 for m in out["modes"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
