"""A bounded load test on loopback: ``scripts/bench_serve.py`` against a real ``python -m sigver.serve``.

200 verifications from 8 concurrent clients (batched mode); every answer must equal the Python API's
(``sigver.verify.verify`` on the same user file and scan). The figures go to BENCHMARKS.md from full runs.
"""
import json
import subprocess
import sys

import pytest

from ..conftest import REPO
from .conftest import need_serve_extra

need_serve_extra()

pytestmark = pytest.mark.slow  # a server start, an enrolment and 200 requests: about 20-40 s on 2 cores


def test_200_verifications_from_8_clients_equal_the_python_api(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "bench_serve.py"), "--requests", "200",
                           "--clients", "8", "--modes", "batched", "--json", str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    m = json.loads(out.read_text())["modes"]["batched"]
    assert m["answers"] == 200 and m["mismatches"] == 0 and m["max_score_diff"] <= 1e-4
    assert 0 < m["p50_ms"] <= m["p99_ms"] and m["throughput_per_s"] > 0
    assert m["forward_passes"] <= 200 and m["mean_batch"] >= 1
