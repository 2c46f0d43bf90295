"""Task sampling for meta-learning (docs/protocols.md): one writer = one task.

For a writer ``u`` a task is

- **support** (adaptation) set: ``num_gen`` genuine signatures of ``u`` (label 1) and ``num_rf`` random
  forgeries (label 0: one genuine signature each of ``num_rf`` other writers); ``num_rf = 0`` is the
  one-class case;
- **query** set: the next ``num_gen_test`` genuine signatures of ``u`` (label 1), ``num_rf_test`` random
  forgeries (one genuine signature each of further writers) and up to ``num_sk_test`` skilled forgeries of
  ``u`` (label 0, ``forg`` 1), the latter only when ``u`` may use them (``sk_users``).

The uint8 images stay on the device; a meta-batch of tasks is gathered and cropped there in one go (random
crops in training, the centre crop in test mode) and returned stacked, with a leading task dimension, so
that the tasks can be adapted in parallel. Writers without enough skilled forgeries give shorter query sets:
the query tensors are padded and ``query_mask`` marks the real samples.

All random numbers come from the :class:`torch.Generator` passed to :meth:`TaskSampler.sample` (a CPU
generator), so the tasks depend only on its seed, not on the device, workers or global RNGs (docs/compatibility.md).
"""
from __future__ import annotations

import warnings
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ..shapes import INPUT_SIZE
from ..training.batching import DataSplitError, crop_batch

__all__ = ["TaskBatch", "TaskSampler", "TaskSamplingWarning"]


class TaskSamplingWarning(UserWarning):
    """Too few writers for distinct random forgeries: some are drawn twice (random-forgery metrics are biased)."""


class TaskBatch(NamedTuple):
    """A stack of ``T`` tasks on the device.

    Attributes
    ----------
    support_x : Tensor of float (T, n_s, 1, h, w)
    support_y : Tensor of float (T, n_s)
        1 genuine, 0 random forgery.
    query_x : Tensor of float (T, n_q, 1, h, w)
        Padded with zeros where ``query_mask`` is False.
    query_y : Tensor of float (T, n_q)
        1 genuine, 0 forgery.
    query_forg : Tensor of int64 (T, n_q)
        0 genuine or random forgery, 1 skilled forgery.
    query_mask : Tensor of bool (T, n_q)
        True for real samples.
    users : Tensor of int64 (T,)
        The writer of each task.
    """

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor
    query_forg: torch.Tensor
    query_mask: torch.Tensor
    users: torch.Tensor

    def task(self, t: int) -> "TaskBatch":
        """Task ``t`` alone (``T = 1``), with the query padding removed."""
        keep = self.query_mask[t]
        return TaskBatch(self.support_x[t:t + 1], self.support_y[t:t + 1], self.query_x[t:t + 1, keep],
                         self.query_y[t:t + 1, keep], self.query_forg[t:t + 1, keep],
                         self.query_mask[t:t + 1, keep], self.users[t:t + 1])


def _flag_counts(num_gen, num_rf, num_gen_test, num_rf_test, num_sk_test):
    return (("--num-gen", num_gen), ("--num-rf", num_rf), ("--num-gen-test", num_gen_test),
            ("--num-rf-test", num_rf_test), ("--num-sk-test", num_sk_test))


class TaskSampler:
    """Builds meta-learning tasks from a dataset held on a device.

    Parameters
    ----------
    x : ndarray or Tensor of uint8 (N, 1, H, W)
        Stored images (e.g. 170 x 242).
    y : array-like of int (N,)
        Writer index of each image.
    yforg : array-like of int (N,)
        0 genuine, 1 skilled forgery (2, simple forgeries, are not used).
    users : sequence of int
        The writers of the tasks; random forgeries come from the other writers of this list.
    num_gen, num_rf, num_gen_test, num_rf_test, num_sk_test : int
        Sizes of the support and query sets (flags of the same names).
    input_size : (int, int)
        Crop size ``(h, w)`` (150 x 220).
    sk_users : sequence of int, optional
        Writers whose query sets include skilled forgeries (default: all of ``users``).
    device : str or torch.device
    source : str
        Name of the data (a file) for error messages.

    Raises
    ------
    DataSplitError
        A writer with fewer than ``num_gen + num_gen_test`` genuine signatures, no writers, or random forgeries
        asked for with a single writer; the message names the flags to change.
    """

    def __init__(self, x, y, yforg, users: Sequence[int], num_gen: int, num_rf: int, num_gen_test: int,
                 num_rf_test: int, num_sk_test: int, input_size: Tuple[int, int] = INPUT_SIZE,
                 sk_users: Optional[Sequence[int]] = None, device: Union[str, torch.device] = "cpu",
                 source: str = "the dataset"):
        for flag, value in _flag_counts(num_gen, num_rf, num_gen_test, num_rf_test, num_sk_test):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise DataSplitError(f"{flag}: expected a non-negative integer, got {value!r}")
        if num_gen < 1:
            raise DataSplitError("--num-gen: the support set needs at least 1 genuine signature")
        self.counts = dict(num_gen=int(num_gen), num_rf=int(num_rf), num_gen_test=int(num_gen_test),
                           num_rf_test=int(num_rf_test), num_sk_test=int(num_sk_test))
        self.device = torch.device(device)
        y = np.asarray(y)
        yforg = np.asarray(yforg)
        self.users = np.asarray(sorted(int(u) for u in users), dtype=np.int64)
        if len(self.users) == 0:
            raise DataSplitError(f"{source}: no writers selected for the tasks")
        keep = np.isin(y, self.users) & (yforg <= 1)
        x = np.asarray(x)[keep] if not isinstance(x, torch.Tensor) else x[torch.as_tensor(keep)]
        y, yforg = y[keep], yforg[keep]
        xt = torch.as_tensor(x)
        if xt.dtype != torch.uint8 or xt.dim() != 4:
            raise ValueError(f"x must be uint8 of shape (N, C, H, W), got {xt.dtype} {tuple(xt.shape)}")
        self.x = xt.to(self.device)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        H, W = self.x.shape[-2:]
        if self.input_size[0] > H or self.input_size[1] > W:
            raise DataSplitError(f"--input-size {self.input_size[0]} {self.input_size[1]} is larger than the "
                                 f"images of {source} ({H}x{W})")
        self.max_offset = (H - self.input_size[0], W - self.input_size[1])
        self.genuine: List[torch.Tensor] = []
        self.skilled: List[torch.Tensor] = []
        need = num_gen + num_gen_test
        for u in self.users:
            g = np.flatnonzero((y == u) & (yforg == 0))
            if len(g) < need:
                raise DataSplitError(
                    f"{source}: writer {u} has {len(g)} genuine signatures, the tasks need --num-gen {num_gen} + "
                    f"--num-gen-test {num_gen_test} = {need}; lower these or leave such writers out")
            self.genuine.append(torch.as_tensor(g))
            self.skilled.append(torch.as_tensor(np.flatnonzero((y == u) & (yforg == 1))))
        self.sk_users = set(int(u) for u in (self.users if sk_users is None else sk_users))
        n_other = len(self.users) - 1
        n_rf = num_rf + num_rf_test
        if n_rf > 0 and n_other < 1:
            raise DataSplitError(f"{source}: random forgeries (--num-rf {num_rf}, --num-rf-test {num_rf_test}) need "
                                 f"at least 2 writers, got 1")
        self.replace = n_rf > n_other
        if self.replace:
            warnings.warn(f"{len(self.users)} writers are too few for {n_rf} distinct random forgeries per task "
                          f"(--num-rf {num_rf} + --num-rf-test {num_rf_test}); some writers are drawn more than "
                          f"once: do not use the random-forgery metrics", TaskSamplingWarning, stacklevel=2)
        self.n_support = num_gen + num_rf
        self.n_query = num_gen_test + num_rf_test + (num_sk_test if self.sk_users & set(self.users.tolist()) else 0)

    def __len__(self) -> int:
        return len(self.users)

    def _task_indices(self, i: int, g: torch.Generator):
        c = self.counts
        gen = self.genuine[i]
        gen = gen[torch.randperm(len(gen), generator=g)]
        others = np.delete(np.arange(len(self.users)), i)
        n_rf = c["num_rf"] + c["num_rf_test"]
        if self.replace:
            pick = torch.randint(0, len(others), (n_rf,), generator=g)
        else:
            pick = torch.randperm(len(others), generator=g)[:n_rf]
        rf = [self.genuine[others[int(j)]] for j in pick]
        rf = torch.stack([r[torch.randint(0, len(r), (1,), generator=g)][0] for r in rf]) if rf else \
            torch.zeros(0, dtype=torch.long)
        sk = torch.zeros(0, dtype=torch.long)
        if c["num_sk_test"] > 0 and int(self.users[i]) in self.sk_users:
            s = self.skilled[i]
            sk = s[torch.randperm(len(s), generator=g)][:c["num_sk_test"]]
        support = torch.cat([gen[:c["num_gen"]], rf[:c["num_rf"]]])
        query = torch.cat([gen[c["num_gen"]:c["num_gen"] + c["num_gen_test"]], rf[c["num_rf"]:], sk])
        n_q_gen, n_q_rf = c["num_gen_test"], c["num_rf_test"]
        q_y = torch.cat([torch.ones(n_q_gen), torch.zeros(n_q_rf + len(sk))])
        q_forg = torch.cat([torch.zeros(n_q_gen + n_q_rf, dtype=torch.long), torch.ones(len(sk), dtype=torch.long)])
        return support, query, q_y, q_forg

    def _crops(self, idx: torch.Tensor, g: Optional[torch.Generator]) -> torch.Tensor:
        n = len(idx)
        if g is None:  # test mode: centre crop
            top = torch.full((n,), self.max_offset[0] // 2, dtype=torch.long)
            left = torch.full((n,), self.max_offset[1] // 2, dtype=torch.long)
        else:
            top = torch.randint(0, self.max_offset[0] + 1, (n,), generator=g)
            left = torch.randint(0, self.max_offset[1] + 1, (n,), generator=g)
        idx = idx.to(self.device)
        x = crop_batch(self.x[idx], top.to(self.device), left.to(self.device), self.input_size)
        return x.float().div_(255.0)

    def sample(self, positions: Sequence[int], generator: torch.Generator, train: bool = True) -> TaskBatch:
        """The tasks of the writers ``self.users[positions]``, stacked.

        Parameters
        ----------
        positions : sequence of int
            Indices into ``self.users`` (0..len-1).
        generator : torch.Generator
            CPU generator for the choice of signatures and (``train=True``) the crop offsets.
        train : bool, default True
            Random crops (True) or centre crops (False).
        """
        c = self.counts
        T = len(positions)
        n_s, n_q = self.n_support, self.n_query
        s_idx = torch.zeros(T, n_s, dtype=torch.long)
        q_idx = torch.zeros(T, n_q, dtype=torch.long)
        q_y = torch.zeros(T, n_q)
        q_forg = torch.zeros(T, n_q, dtype=torch.long)
        q_mask = torch.zeros(T, n_q, dtype=torch.bool)
        for t, i in enumerate(positions):
            support, query, y, forg = self._task_indices(int(i), generator)
            s_idx[t] = support
            k = len(query)
            q_idx[t, :k], q_y[t, :k], q_forg[t, :k], q_mask[t, :k] = query, y, forg, True
        crop_gen = generator if train else None
        sx = self._crops(s_idx.reshape(-1), crop_gen).reshape(T, n_s, *self.x.shape[1:2], *self.input_size)
        qx = self._crops(q_idx.reshape(-1), crop_gen).reshape(T, n_q, *self.x.shape[1:2], *self.input_size)
        qx = qx * q_mask.to(self.device).view(T, n_q, 1, 1, 1)
        s_y = torch.cat([torch.ones(c["num_gen"]), torch.zeros(c["num_rf"])]).expand(T, n_s)
        dev = self.device
        return TaskBatch(sx, s_y.to(dev), qx, q_y.to(dev), q_forg.to(dev), q_mask.to(dev),
                         torch.as_tensor(self.users[list(positions)]).to(dev))

    def batches(self, meta_batch_size: int, generator: torch.Generator, train: bool = True,
                shuffle: bool = True):
        """One pass over the writers in (shuffled) meta-batches of ``meta_batch_size`` tasks."""
        order = torch.randperm(len(self.users), generator=generator) if shuffle else torch.arange(len(self.users))
        for start in range(0, len(order), meta_batch_size):
            yield self.sample(order[start:start + meta_batch_size].tolist(), generator, train)

    def num_batches(self, meta_batch_size: int) -> int:
        return (len(self.users) + meta_batch_size - 1) // meta_batch_size
