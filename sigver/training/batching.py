"""Device-side batching for training: the uint8 images live on the device, crops are taken there in batch.

The original fed every image through ``ToPILImage -> RandomCrop -> ToTensor`` in a Python loop on the CPU
(docs/protocols.md). Here the whole uint8 dataset tensor ``(N, 1, H, W)`` is moved to the device once; a batch
is a gather with tensor indexing (one random ``h x w`` window per image, drawn from a seeded
:class:`torch.Generator`), converted to float and scaled by 1/255 on the device.

Random numbers (the epoch permutation and the crop offsets) come from a CPU :class:`torch.Generator`, so
the stream is the same on every device and its state can be saved for ``--resume``. Under
DistributedDataParallel every rank draws the same permutation and offsets and takes its own shard.
"""
from __future__ import annotations

from typing import Iterator, NamedTuple, Optional, Tuple, Union

import numpy as np
import torch

from ..errors import SigverError

__all__ = ["Batch", "DeviceBatches", "crop_batch", "split_indices", "DataSplitError", "as_generator", "VAL_FRACTION"]

#: Fraction of the images held out for validation by the trainers (the original's 90 % / 10 % split).
VAL_FRACTION = 0.1


class DataSplitError(SigverError, ValueError):
    """The selected data cannot be split or batched (too few images or writers)."""


class Batch(NamedTuple):
    """One batch on the device.

    Attributes
    ----------
    x : Tensor of float, shape (B, 1, h, w)
        Cropped images in [0, 1] (uint8 / 255).
    y : Tensor of int64, shape (B,)
        Writer labels 0..C-1.
    yforg : Tensor of int64, shape (B,)
        0 genuine, 1 skilled, 2 simple forgery.
    """

    x: torch.Tensor
    y: torch.Tensor
    yforg: torch.Tensor


def crop_batch(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """One ``h x w`` window per image, gathered in one indexing operation.

    Parameters
    ----------
    x : Tensor, shape (B, C, H, W)
        Images (any dtype, any device).
    top, left : Tensor of int64, shape (B,)
        Offsets of each window, ``0 <= top <= H - h``, ``0 <= left <= W - w``; on ``x``'s device.
    size : (int, int)
        ``(h, w)`` of the windows.

    Returns
    -------
    Tensor, shape (B, C, h, w)
        ``out[i] = x[i, :, top[i]:top[i] + h, left[i]:left[i] + w]``; same dtype as ``x``.
    """
    h, w = size
    b, c = x.shape[:2]
    dev = x.device
    rows = (top.view(b, 1) + torch.arange(h, device=dev)).view(b, 1, h, 1)
    cols = (left.view(b, 1) + torch.arange(w, device=dev)).view(b, 1, 1, w)
    bi = torch.arange(b, device=dev).view(b, 1, 1, 1)
    ci = torch.arange(c, device=dev).view(1, c, 1, 1)
    return x[bi, ci, rows, cols]


def split_indices(n: int, val_fraction: float, generator: torch.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
    """Random per-image train / validation split (docs/protocols.md: 90 % / 10 %, seeded).

    Parameters
    ----------
    n : int
        Number of images.
    val_fraction : float
        Fraction of images in the validation set, in (0, 1). ``n_val = n - int(n * (1 - val_fraction))``.
    generator : torch.Generator
        Source of the permutation.

    Returns
    -------
    train_idx, val_idx : Tensor of int64
        Disjoint indices into the ``n`` images, in random order.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    n_train = int(n * (1.0 - val_fraction))
    if n_train < 1 or n_train >= n:
        raise DataSplitError(f"{n} images cannot be split into training and validation sets "
                             f"({val_fraction:.0%} for validation); use more images or writers")
    perm = torch.randperm(n, generator=generator)
    return perm[:n_train], perm[n_train:]


class DeviceBatches:
    """A labelled set of uint8 images held on a device, served as cropped float batches.

    Parameters
    ----------
    x : ndarray or Tensor of uint8, shape (N, 1, H, W)
        Stored images (e.g. 170 x 242), background 0.
    y : array-like of int, shape (N,)
        Writer labels 0..C-1.
    yforg : array-like of int, shape (N,)
        Forgery labels (0 genuine).
    input_size : (int, int)
        ``(h, w)`` of the crops (150 x 220); at most ``(H, W)``.
    device : str or torch.device
        Where the images are kept and batches are built.
    channels_last : bool, default False
        Return batches in ``torch.channels_last`` memory format.
    dtype : torch.dtype, default torch.float32
        Dtype of the returned images.
    """

    def __init__(self, x, y, yforg, input_size: Tuple[int, int], device: Union[str, torch.device] = "cpu",
                 channels_last: bool = False, dtype: torch.dtype = torch.float32):
        x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
        if x.dtype != torch.uint8 or x.dim() != 4:
            raise ValueError(f"x must be uint8 of shape (N, C, H, W), got {x.dtype} {tuple(x.shape)}")
        self.device = torch.device(device)
        self.x = x.to(self.device)
        self.y = torch.as_tensor(np.asarray(y), dtype=torch.long).to(self.device)
        self.yforg = torch.as_tensor(np.asarray(yforg), dtype=torch.long).to(self.device)
        if not (len(self.x) == len(self.y) == len(self.yforg)):
            raise ValueError(f"x, y and yforg differ in length: {len(self.x)}, {len(self.y)}, {len(self.yforg)}")
        self.input_size = (int(input_size[0]), int(input_size[1]))
        H, W = self.x.shape[-2:]
        if self.input_size[0] > H or self.input_size[1] > W:
            raise DataSplitError(f"crop size {self.input_size[0]}x{self.input_size[1]} is larger than the stored "
                                 f"images ({H}x{W}); use a smaller --input-size")
        self.max_offset = (H - self.input_size[0], W - self.input_size[1])
        self.channels_last = channels_last
        self.dtype = dtype

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, index: torch.Tensor) -> "DeviceBatches":
        """A :class:`DeviceBatches` of the images ``index`` (a copy on the same device)."""
        out = object.__new__(DeviceBatches)
        out.__dict__.update(self.__dict__)
        index = index.to(self.device)
        out.x, out.y, out.yforg = self.x[index], self.y[index], self.yforg[index]
        return out

    def _finish(self, xb: torch.Tensor, idx: torch.Tensor) -> Batch:
        xb = xb.to(self.dtype).div_(255.0)
        if self.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        return Batch(xb, self.y[idx], self.yforg[idx])

    def num_batches(self, batch_size: int, rank: int = 0, world_size: int = 1) -> int:
        """Number of batches :meth:`train_batches` yields on ``rank``."""
        n = self._shard_len(rank, world_size)
        if n % batch_size == 1 and n > 1:
            n -= 1
        return (n + batch_size - 1) // batch_size

    def _shard_len(self, rank: int, world_size: int) -> int:
        n = len(self)
        return n // world_size if world_size > 1 else n

    def train_batches(self, batch_size: int, generator: torch.Generator, rank: int = 0,
                      world_size: int = 1, group: int = 1) -> Iterator[Batch]:
        """One epoch of shuffled batches with random crops.

        The permutation and all crop offsets of the epoch are drawn up front from ``generator`` (a CPU
        generator), so the stream does not depend on the device or on how far the epoch is consumed.
        With ``world_size > 1`` every rank must pass a generator in the same state; rank ``r`` takes
        every ``world_size``-th image of the permutation starting at ``r`` (the tail that does not divide
        evenly is dropped, so all ranks run the same number of steps).

        Yields
        ------
        Batch
            ``x`` (B, 1, h, w) float in [0, 1], ``y``, ``yforg``; the last batch may be smaller (but never
            a single image, which BatchNorm cannot train on: that image is left out of the epoch).

        With ``group > 1`` the epoch is drawn writer-grouped (:meth:`grouped_permutation`), so that a batch
        holds several signatures of each of its writers (for a contrastive term); every image is still seen
        once per epoch, and under DDP each rank takes a contiguous share of the permutation.
        """
        n = len(self)
        perm = torch.randperm(n, generator=generator) if group <= 1 else self.grouped_permutation(group, generator)
        top = torch.randint(0, self.max_offset[0] + 1, (n,), generator=generator)
        left = torch.randint(0, self.max_offset[1] + 1, (n,), generator=generator)
        if world_size > 1:
            m = n // world_size
            sel = slice(rank, m * world_size, world_size) if group <= 1 else slice(rank * m, (rank + 1) * m)
            perm, top, left = perm[sel], top[sel], left[sel]
        if len(perm) % batch_size == 1 and len(perm) > 1:
            # a batch of one image breaks BatchNorm in train mode: leave that (random) image out this epoch
            perm, top, left = perm[:-1], top[:-1], left[:-1]
        perm, top, left = (t.to(self.device, non_blocking=True) for t in (perm, top, left))
        for start in range(0, len(perm), batch_size):
            idx = perm[start:start + batch_size]
            xb = crop_batch(self.x[idx], top[start:start + batch_size], left[start:start + batch_size],
                            self.input_size)
            yield self._finish(xb, idx)

    def grouped_permutation(self, group: int, generator: torch.Generator) -> torch.Tensor:
        """A permutation of all images in which each writer's images come in runs of ``group``.

        Each writer's images are shuffled and cut into chunks of ``group`` (the last one may be shorter);
        the chunks of all writers are shuffled and concatenated. Drawn from ``generator`` (CPU).
        """
        y = self.y.cpu()
        chunks = []
        for label in torch.unique(y).tolist():
            idx = torch.nonzero(y == label).view(-1)
            idx = idx[torch.randperm(len(idx), generator=generator)]
            chunks.extend(idx.split(group))
        order = torch.randperm(len(chunks), generator=generator)
        return torch.cat([chunks[i] for i in order.tolist()])

    def eval_batches(self, batch_size: int, rank: int = 0, world_size: int = 1) -> Iterator[Batch]:
        """Batches in stored order with the centre crop (offsets ``(H - h) // 2``, ``(W - w) // 2``).

        With ``world_size > 1`` rank ``r`` gets images ``r, r + world_size, ...`` (all of them: shards
        may differ in size by one).
        """
        h, w = self.input_size
        t, l = self.max_offset[0] // 2, self.max_offset[1] // 2
        idx_all = torch.arange(rank, len(self), max(1, world_size), device=self.device)
        for start in range(0, len(idx_all), batch_size):
            idx = idx_all[start:start + batch_size]
            yield self._finish(self.x[idx, :, t:t + h, l:l + w], idx)


def as_generator(seed: Optional[int]) -> torch.Generator:
    """A CPU :class:`torch.Generator` seeded with ``seed`` (random when None)."""
    g = torch.Generator()
    if seed is None:
        g.seed()
    else:
        g.manual_seed(int(seed))
    return g
