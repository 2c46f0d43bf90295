"""Device-side batching: crops match slicing, seeded streams, centre crop, shards, split."""
import numpy as np
import pytest
import torch

from sigver.training.batching import DataSplitError, DeviceBatches, as_generator, crop_batch, split_indices


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(23, 1, 17, 24), dtype=np.uint8)
    return x, np.arange(23) % 5, (np.arange(23) % 3 == 0).astype(int)


def test_crop_batch_equals_slicing():
    x = torch.arange(3 * 2 * 6 * 7).view(3, 2, 6, 7)
    top, left = torch.tensor([0, 2, 1]), torch.tensor([3, 0, 1])
    out = crop_batch(x, top, left, (4, 4))
    for i in range(3):
        assert torch.equal(out[i], x[i, :, top[i]:top[i] + 4, left[i]:left[i] + 4])


def test_train_batches_cover_epoch_with_valid_crops(images):
    x, y, yforg = images
    data = DeviceBatches(x, y, yforg, (15, 20))
    seen = []
    for xb, yb, fb in data.train_batches(5, as_generator(1)):
        assert xb.dtype == torch.float32 and xb.shape[1:] == (1, 15, 20)
        assert 0.0 <= xb.min() and xb.max() <= 1.0
        for img, label in zip(xb, yb):
            # find which stored image and window it is
            u8 = torch.round(img * 255).to(torch.uint8)
            hits = [(i, t, l) for i in range(len(x)) for t in range(3) for l in range(5)
                    if torch.equal(torch.from_numpy(x[i, :, t:t + 15, l:l + 20]), u8)]
            assert len(hits) == 1
            assert y[hits[0][0]] == label
            seen.append(hits[0][0])
    assert sorted(seen) == list(range(23))
    assert data.num_batches(5) == 5


def test_train_batches_seeded(images):
    x, y, yforg = images
    data = DeviceBatches(x, y, yforg, (15, 20))
    a = [b.x for b in data.train_batches(8, as_generator(3))]
    b = [b.x for b in data.train_batches(8, as_generator(3))]
    c = [b.x for b in data.train_batches(8, as_generator(4))]
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert not all(torch.equal(p, q) for p, q in zip(a, c))


def test_no_batch_of_one(images):
    x, y, yforg = images
    data = DeviceBatches(x, y, yforg, (15, 20))
    sizes = [len(b.y) for b in data.train_batches(11, as_generator(0))]  # 23 = 11 + 11 + 1
    assert sizes == [11, 11] and data.num_batches(11) == 2


def test_eval_batches_centre_crop_and_channels_last(images):
    x, y, yforg = images
    data = DeviceBatches(x, y, yforg, (15, 20), channels_last=True)
    xb = torch.cat([b.x for b in data.eval_batches(10)])
    expected = torch.from_numpy(x[:, :, 1:16, 2:22]).float() / 255
    assert torch.equal(xb, expected)
    b = next(data.eval_batches(4))
    assert b.x.is_contiguous(memory_format=torch.channels_last)


def test_shards_are_disjoint_and_equal(images):
    x, y, yforg = images
    data = DeviceBatches(x, y, yforg, (17, 24))  # no crop freedom: images identify themselves
    shards = []
    for rank in range(2):
        ys = torch.cat([b.x.flatten(1) for b in data.train_batches(4, as_generator(9), rank, 2)])
        shards.append({tuple(r.tolist()) for r in ys})
    assert len(shards[0]) == len(shards[1]) == 11 and not shards[0] & shards[1]
    ev = [torch.cat([b.y for b in data.eval_batches(4, r, 2)]) for r in range(2)]
    assert len(ev[0]) + len(ev[1]) == 23


def test_grouped_batches_keep_writers_together(images):
    x, y, yforg = images  # 5 writers of 4-5 images
    data = DeviceBatches(x, y, yforg, (17, 24))
    perm = data.grouped_permutation(2, as_generator(0))
    assert sorted(perm.tolist()) == list(range(23))
    runs = [perm[i:i + 2] for i in range(0, 22, 2)]
    # each writer's images are cut into runs of 2 (one shorter run per writer with an odd count)
    same = sum(int(y[int(r[0])] == y[int(r[1])]) for r in runs)
    assert same >= 8
    a = [b.y for b in data.train_batches(6, as_generator(5), group=3)]
    b = [b.y for b in data.train_batches(6, as_generator(5), group=3)]
    assert all(torch.equal(p, q) for p, q in zip(a, b)) and sum(len(t) for t in a) == 23
    # every batch has a writer twice or more (what a contrastive term needs)
    assert all(len(torch.unique(t)) < len(t) for t in a)
    # under DDP each rank takes a contiguous share: disjoint, same size
    shards = [{tuple(r.tolist()) for r in torch.cat([bt.x.flatten(1) for bt in data.train_batches(
        4, as_generator(9), rank, 2, group=3)])} for rank in range(2)]
    assert len(shards[0]) == len(shards[1]) == 11 and not shards[0] & shards[1]


def test_split_indices():
    tr, va = split_indices(50, 0.1, as_generator(42))
    assert len(tr) == 45 and len(va) == 5
    assert sorted(torch.cat([tr, va]).tolist()) == list(range(50))
    tr2, _ = split_indices(50, 0.1, as_generator(42))
    assert torch.equal(tr, tr2)
    with pytest.raises(DataSplitError):
        split_indices(1, 0.1, as_generator(0))


def test_bad_inputs(images):
    x, y, yforg = images
    with pytest.raises(DataSplitError, match="larger than the stored"):
        DeviceBatches(x, y, yforg, (150, 220))
    with pytest.raises(ValueError, match="uint8"):
        DeviceBatches(x.astype(np.float32), y, yforg, (15, 20))
