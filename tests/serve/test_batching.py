"""The batching queue: concurrent requests share forward passes, each gets its own rows, errors reach all."""
import threading
import time

import numpy as np
import pytest

from sigver.serve.batching import FeatureBatcher


def fake_extract(calls, delay=0.0):
    def extract(x):
        calls.append(len(x))
        time.sleep(delay)
        return x.reshape(len(x), -1).astype(np.float32) * 2  # row i of the answer comes from image i
    return extract


def run_concurrently(batcher, n):
    xs = [np.full((1 + i % 2, 1, 2, 3), i, np.uint8) for i in range(n)]
    out = [None] * n
    barrier = threading.Barrier(n)

    def one(i):
        barrier.wait()
        out[i] = batcher(xs[i], timeout=30)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(n):
        np.testing.assert_array_equal(out[i], xs[i].reshape(len(xs[i]), -1) * 2)
    return xs


def test_concurrent_requests_share_forward_passes():
    calls = []
    b = FeatureBatcher(fake_extract(calls, 0.02), max_batch=64, max_wait_ms=50)
    xs = run_concurrently(b, 8)
    assert sum(calls) == sum(len(x) for x in xs) and len(calls) < 8
    assert b.stats["requests"] == 8 and b.stats["batches"] == len(calls)
    b.close()


def test_max_batch_one_is_one_pass_per_request():
    calls = []
    b = FeatureBatcher(fake_extract(calls), max_batch=1, max_wait_ms=0)
    run_concurrently(b, 6)
    assert len(calls) == 6
    b.close()


def test_max_batch_caps_a_pass():
    calls = []
    b = FeatureBatcher(fake_extract(calls, 0.05), max_batch=3, max_wait_ms=100)
    run_concurrently(b, 8)
    assert all(c <= 4 for c in calls)  # up to max_batch images, plus the request that crossed it (1 or 2)
    b.close()


def test_an_error_reaches_every_waiting_request_and_the_batcher_goes_on():
    def extract(x):
        if (x == 99).any():
            raise RuntimeError("boom")
        return np.zeros((len(x), 2), np.float32)

    b = FeatureBatcher(extract, max_batch=8, max_wait_ms=1)
    with pytest.raises(RuntimeError, match="boom"):
        b(np.full((1, 1, 1, 1), 99, np.uint8), timeout=10)
    assert b(np.zeros((2, 1, 1, 1), np.uint8), timeout=10).shape == (2, 2)
    b.close()
    with pytest.raises(RuntimeError, match="closed"):
        b.submit(np.zeros((1, 1, 1, 1), np.uint8))


def test_bad_settings():
    with pytest.raises(ValueError):
        FeatureBatcher(lambda x: x, max_batch=0)
