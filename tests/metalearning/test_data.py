import numpy as np
import pytest
import torch

from sigver.featurelearning.data import DataSplitError
from sigver.metalearning.data import TaskSampler, TaskSamplingWarning


def _data(n_users=5, n_gen=8, n_sk=(3, 3, 1, 0, 3)):
    rng = np.random.default_rng(0)
    y, f = [], []
    for u in range(n_users):
        y += [u] * (n_gen + n_sk[u])
        f += [0] * n_gen + [1] * n_sk[u]
    x = rng.integers(0, 255, (len(y), 1, 170, 242), dtype=np.uint8)
    return x, np.array(y), np.array(f)


def test_task_sizes_labels_and_padding():
    x, y, f = _data()
    s = TaskSampler(x, y, f, range(5), num_gen=3, num_rf=2, num_gen_test=4, num_rf_test=1, num_sk_test=2)
    b = s.sample([0, 2, 3], torch.Generator().manual_seed(0))
    assert b.support_x.shape == (3, 5, 1, 150, 220) and b.query_x.shape == (3, 7, 1, 150, 220)
    assert b.support_y[0].tolist() == [1, 1, 1, 0, 0]
    # writer 2 has one skilled forgery, writer 3 none: the query sets are padded
    assert b.query_mask.sum(1).tolist() == [7, 6, 5]
    assert b.query_forg.sum(1).tolist() == [2, 1, 0]
    assert b.query_y[0].tolist() == [1, 1, 1, 1, 0, 0, 0]
    assert float(b.support_x.max()) <= 1 and b.users.tolist() == [0, 2, 3]
    one = b.task(1)
    assert one.query_x.shape[1] == 6 and bool(one.query_mask.all())


def test_support_images_are_the_writers_and_distinct():
    x, y, f = _data()
    s = TaskSampler(x, y, f, range(5), 3, 0, 4, 0, 0)  # one-class support, no forgeries in the query
    b = s.sample([1], torch.Generator().manual_seed(1), train=False)
    assert b.support_y.tolist() == [[1, 1, 1]] and b.query_y.tolist() == [[1, 1, 1, 1]]
    crops = torch.cat([b.support_x[0], b.query_x[0]])
    ref = torch.as_tensor(x[(y == 1) & (f == 0)][:, :, 10:160, 11:231]).float() / 255
    hits = [int(((ref - c).abs().flatten(1).max(1).values == 0).nonzero()[0]) for c in crops]
    assert len(set(hits)) == 7  # centre crops of 7 different genuine signatures of writer 1


def test_same_seed_same_tasks():
    x, y, f = _data()
    s = TaskSampler(x, y, f, range(5), 3, 2, 4, 1, 2)
    a = s.sample([0, 1], torch.Generator().manual_seed(5))
    b = s.sample([0, 1], torch.Generator().manual_seed(5))
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert sum(1 for _ in s.batches(2, torch.Generator().manual_seed(0))) == s.num_batches(2) == 3


def test_too_few_genuine_or_writers():
    x, y, f = _data()
    with pytest.raises(DataSplitError, match=r"--num-gen 5 \+ --num-gen-test 4 = 9"):
        TaskSampler(x, y, f, range(5), 5, 2, 4, 1, 2, source="data.npz")
    with pytest.raises(DataSplitError, match="at least 2 writers"):
        TaskSampler(x, y, f, [0], 3, 2, 4, 1, 2)
    with pytest.warns(TaskSamplingWarning, match="do not use the random-forgery metrics"):
        TaskSampler(x, y, f, range(3), 3, 2, 4, 1, 2)
