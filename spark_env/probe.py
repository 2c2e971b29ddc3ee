"""What a run is measured on while it trains: the probe crops (every step) and the whole validation images.

Both come from the validation split (``val_folder`` or the embedded one), never from the test images. The probe
crops are fixed for a configuration (drawn from ``PROBE_SEED``, whatever the episode seed), so probe PSNRs of
different runs and steps are comparable.

How the crops' errors make one PSNR (``pooling``): ``"crop"`` averages the crops' PSNRs (each crop counts the same,
so smooth crops at 40+ dB weigh as much as textured ones); ``"image"`` pools the squared errors of the crops cut from
the same validation image, takes that image's PSNR and averages over images, as the test tables score whole images
(a crop's weight follows its error). ``docs/results.md`` (probe design) has the study that chose between them.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from spark_env.config import PROBE_POOLINGS
from spark_env.data import ImagePair, load_pairs
from spark_env.data.io import to_tensor
from spark_env.data.pairs import random_crop
from spark_env.data.tasks import Task
from spark_env.errors import DatasetError
from spark_env.evaluation import evaluate, measure_border
from spark_env.metrics import psnr_of_mse, squared_errors, ssim

PROBE_SEED = 2606


class ProbeSet:
    """``count`` fixed crops of side ``size`` (LR pixels) cycling over the validation ``pairs``, their errors pooled
    as ``pooling`` says (see the module docstring).

    Attributes: ``lq`` (count, 3, size, size) on ``device``, ``hr`` (count, 3, size*s, size*s) on the CPU,
    ``source`` (count,) the index of the image each crop was cut from, ``border`` (pixels shaved before measuring).
    """

    def __init__(self, pairs: list[ImagePair], count: int, size: int, task: Task, device: torch.device,
                 pooling: str = "crop") -> None:
        if pooling not in PROBE_POOLINGS:
            raise ValueError(f"probe pooling {pooling!r} is invalid; allowed: {', '.join(PROBE_POOLINGS)}")
        pairs = [p for p in pairs if min(p.lq_size) >= size]
        if not pairs:
            raise DatasetError(f"no validation image is large enough for probe crops of {size}x{size} LR pixels; "
                               "lower probe_crop_size")
        rng = np.random.default_rng(PROBE_SEED)
        crops = [random_crop(pairs[i % len(pairs)], size, task.scale, rng)[:2] for i in range(count)]
        self.lq = torch.cat([to_tensor(lq) for lq, _ in crops]).to(device)
        self.hr = torch.cat([to_tensor(hr) for _, hr in crops])
        self.source = np.arange(count) % len(pairs)
        self.pooling = pooling
        self.border = measure_border(task)

    @torch.no_grad()
    def outputs(self, network: nn.Module) -> torch.Tensor:
        """The network's outputs on the probe crops in eval mode (CPU); the network's mode is restored."""
        was_training = network.training
        network.eval()
        out = network(self.lq).cpu()
        network.train(was_training)
        return out

    def psnr(self, network: nn.Module) -> float:
        """PSNR-Y (dB) of the network on the probe crops, pooled as ``pooling`` says; ``-inf`` when an output is not
        finite."""
        return self.psnr_of(self.outputs(network))

    def psnr_of(self, out: torch.Tensor) -> float:
        """PSNR-Y (dB) of outputs (count, 3, size*s, size*s) for the probe crops, pooled as ``pooling`` says;
        ``-inf`` when an output is not finite."""
        if not torch.isfinite(out).all():
            return -math.inf
        mse = squared_errors(out, self.hr, border=self.border).numpy()
        if self.pooling == "image":
            mse = np.array([mse[self.source == i].mean() for i in np.unique(self.source)])
        return float(np.mean([psnr_of_mse(float(m)) for m in mse]))

    def ssim(self, network: nn.Module) -> float:
        """Mean SSIM-Y on the probe crops."""
        return ssim(self.outputs(network), self.hr, border=self.border)


class ValidationSet:
    """The whole validation images (``folder``, or the validation split of the embedded ``image_set`` when None),
    loaded on first access (a QATSession cuts its probes from them when it is built); only rewards that evaluate
    them (``psnr``) pay for whole-image passes."""

    def __init__(self, task: Task, folder: str | None, image_set: str, device: torch.device) -> None:
        self.folder = folder
        self.image_set = image_set
        self._pairs: list[ImagePair] | None = None
        self.task = task
        self.device = device

    @property
    def pairs(self) -> list[ImagePair]:
        """The validation pairs (loaded on first access)."""
        if self._pairs is None:
            self._pairs = load_pairs(self.task, "val", self.folder, image_set=self.image_set)
        return self._pairs

    def psnr(self, network: nn.Module) -> float:
        """Mean PSNR-Y (dB) over the whole validation images (the test tables' metric on the validation split);
        ``-inf`` when an output is not finite."""
        value = evaluate(network, self.pairs, self.task, self.device, with_ssim=False)["psnr"]
        return value if math.isfinite(value) else -math.inf
