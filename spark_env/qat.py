"""The inner loop of an episode: one QAT run of a low-bit student distilled from a frozen teacher.

A ``QATSession`` owns the frozen teacher, the training images with their cached teacher outputs and static
difficulty maps (computed once per image, on first use), a fixed probe set of validation crops, and, per run, the
quantized student and its optimizer. The environment drives it; baselines and benchmarks can drive it directly.

One training step, for a batch of crops and (N, 8, 8) weight maps W::

    L = L1(S(x), y) + lambda_kd * mean( upsample(W) * l_kd(S(x), T(x)) )

where the student output ``S(x)`` is the forward pass that also built the observation. With ``feature_kd`` set
(``at`` or ``fakd``), ``lambda_feat`` times that feature KD term between the student's and the teacher's body
features is added (the teacher's features are computed per crop, under no_grad).
"""
from __future__ import annotations

import copy
import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from spark_env.config import SparkConfig
from spark_env.data import ImagePair, get_task, load_pairs
from spark_env.data.io import to_tensor
from spark_env.data.pairs import check_crop_fits, random_crop
from spark_env.difficulty import StaticDifficulty, error_grid
from spark_env.errors import ConfigError, DatasetError
from spark_env.evaluation import evaluate, measure_border
from spark_env.kd import feature_kd_loss, spatial_kd_loss
from spark_env.lookahead import lookahead_scores
from spark_env.metrics import psnr, ssim
from spark_env.models import load_teacher
from spark_env.models.teachers import load_weights
from spark_env.quant import QuantSettings, make_student, qat_optimizer

PROBE_SEED = 2606  # the probe crops are fixed for a config, independent of the episode seed
CALIBRATION_CROPS = 8
SHARED_IMAGE_CACHES = 4  # sessions of the same teacher and data share cached teacher outputs (last 4 kept)
_image_caches: OrderedDict[tuple, dict[int, "_TrainingImage"]] = OrderedDict()


def _shared_image_cache(key: tuple) -> dict[int, "_TrainingImage"]:
    """The per-image cache of teacher outputs and static maps for one (teacher, task, data, device): sessions
    built in the same process (a grid of runs) reuse it instead of running the teacher again."""
    if key not in _image_caches:
        _image_caches[key] = {}
        while len(_image_caches) > SHARED_IMAGE_CACHES:
            _image_caches.popitem(last=False)
    _image_caches.move_to_end(key)
    return _image_caches[key]


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda`` (an error when CUDA is missing) or ``auto`` (CUDA when available)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' was asked for but torch sees no CUDA device; use 'cpu' or 'auto'")
    return torch.device(name)


@dataclass
class CropBatch:
    """Aligned training crops; tensors on the session's device."""

    lq: torch.Tensor            # (N, 3, c, c)
    hr: torch.Tensor            # (N, 3, c*s, c*s)
    teacher: torch.Tensor       # (N, 3, c*s, c*s), cached teacher output
    static_grid: torch.Tensor   # (N, 2, 8, 8) raw Laplacian / pixel variance


class _TrainingImage:
    def __init__(self, pair: ImagePair, teacher_output: torch.Tensor) -> None:
        self.pair = pair
        self.teacher = teacher_output
        self.static = StaticDifficulty(pair.lq)


class QATSession:
    """Teacher, data caches and probe set for one configuration; ``start(seed)`` begins a fresh QAT run."""

    def __init__(self, config: SparkConfig) -> None:
        self.config = config
        self.task = get_task(config.task)
        self.device = resolve_device(config.device)
        self.teacher = load_teacher(config.teacher_architecture, config.task, config.teacher_weights).to(self.device)
        self.fp_student = self._student_init().to(self.device)
        self.train_pairs = load_pairs(self.task, "train", config.train_folder)
        for pair in self.train_pairs:
            check_crop_fits(pair.name, pair.lq.shape[0], pair.lq.shape[1], config.crop_size)
        self._images = _shared_image_cache((config.teacher_architecture, config.task, config.teacher_weights,
                                            config.train_folder, str(self.device)))
        self.quant = QuantSettings(config.w_bits, config.a_bits, config.quantizer, config.per_channel,
                                   calibration=config.calibration, quantize_head=config.quantize_head,
                                   quantize_tail=config.quantize_tail)
        self._build_probe()
        self._val_pairs: list[ImagePair] | None = None  # whole validation images, loaded when a reward reads them
        self.val_history: list[tuple[int, float]] = []   # (QAT steps done, val PSNR) of this run's evaluations
        self.student: torch.nn.Module | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.rng = np.random.default_rng(0)
        self.steps_done = 0
        self._last_features: tuple[torch.Tensor, list[torch.Tensor]] | None = None

    def __getstate__(self) -> dict:
        # A forward pass's graph does not pickle; the episode recomputes its pending pass after unpickling.
        return {**self.__dict__, "_last_features": None}

    def _student_init(self) -> torch.nn.Module:
        """The FP network the student is quantized from: ``student_weights``, else the teacher when the
        architectures match, else the shipped FP weights of the student architecture. ``arch_options`` must agree
        with the options those weights were trained with."""
        config = self.config
        if config.student_weights is not None:
            model, meta = load_weights(config.student_weights)
            if meta["arch"] != config.arch:
                raise ConfigError(f"student_weights hold a '{meta['arch']}' network, but arch='{config.arch}'")
        elif config.teacher_architecture == config.arch:
            model = self.teacher
        else:
            model = load_teacher(config.arch, config.task)
        mismatched = {k: v for k, v in config.arch_options.items() if model.config.get(k) != v}
        if mismatched:
            raise ConfigError(f"arch_options {mismatched} differ from the student's FP weights {model.config}; "
                              "pass student_weights (or teacher_weights) trained with those options")
        return model

    @torch.no_grad()
    def _teacher_output(self, lq: torch.Tensor) -> torch.Tensor:
        return self.teacher(lq.to(self.device))

    def image(self, index: int) -> _TrainingImage:
        """A training image with its cached teacher output and static maps (computed on first use)."""
        if index not in self._images:
            pair = self.train_pairs[index]
            self._images[index] = _TrainingImage(pair, self._teacher_output(to_tensor(pair.lq))[0].cpu())
        return self._images[index]

    def _build_probe(self) -> None:
        config = self.config
        rng = np.random.default_rng(PROBE_SEED)
        size, scale = config.probe_crop_size, self.task.scale
        pairs = load_pairs(self.task, "val", config.val_folder)
        pairs = [p for p in pairs if min(p.lq.shape[:2]) >= size]
        if not pairs:
            raise DatasetError(f"no validation image is large enough for probe crops of {size}x{size} LR pixels; "
                               "lower probe_crop_size")
        lqs, hrs = [], []
        for i in range(config.probe_crops):
            pair = pairs[i % len(pairs)]
            top = int(rng.integers(0, pair.lq.shape[0] - size + 1))
            left = int(rng.integers(0, pair.lq.shape[1] - size + 1))
            lqs.append(to_tensor(pair.lq[top:top + size, left:left + size]))
            hrs.append(to_tensor(pair.hr[top * scale:(top + size) * scale, left * scale:(left + size) * scale]))
        self.probe_lq = torch.cat(lqs).to(self.device)
        self.probe_hr = torch.cat(hrs)
        self.teacher_probe_psnr = self._psnr(self._teacher_output(self.probe_lq).cpu(), self.probe_hr)

    def _psnr(self, output: torch.Tensor, target: torch.Tensor) -> float:
        return psnr(output, target, border=measure_border(self.task))

    # ---- one QAT run -------------------------------------------------------------------------------------------
    def start(self, seed: int) -> None:
        """Fresh run: quantize the FP student, calibrate on seeded training crops, new optimizer, seeded crops.
        Every random draw comes from generators seeded here (the caller's global torch / numpy state is untouched)."""
        self.rng = np.random.default_rng(seed)
        calibration = self.sample(CALIBRATION_CROPS).lq
        with torch.random.fork_rng(devices=[]):  # anything in quantization that draws from torch's global generator
            torch.manual_seed(seed)
            self.student = make_student(self.fp_student, self.quant, [calibration], seed=seed)
        self.student = self.student.to(self.device).train()
        self.optimizer = qat_optimizer(self.student, self.config.lr, self.config.quant_lr)
        self.steps_done = 0
        self.val_history = []

    def sample(self, count: int) -> CropBatch:
        """``count`` random aligned training crops (side ``crop_size``) from the session's generator."""
        size, scale = self.config.crop_size, self.task.scale
        lq, hr, teacher, static = [], [], [], []
        for _ in range(count):
            image = self.image(int(self.rng.integers(0, len(self.train_pairs))))
            lq_crop, hr_crop, (top, left) = random_crop(image.pair, size, scale, self.rng)
            lq.append(to_tensor(lq_crop)[0])
            hr.append(to_tensor(hr_crop)[0])
            teacher.append(image.teacher[:, top * scale:(top + size) * scale, left * scale:(left + size) * scale])
            static.append(image.static.grid(top, left, size))
        return CropBatch(torch.stack(lq).to(self.device), torch.stack(hr).to(self.device),
                         torch.stack(teacher).to(self.device), torch.stack(static))

    def forward(self, crops: CropBatch) -> torch.Tensor:
        """The student's training-mode forward pass on the crops (keeps the graph for the step). With feature KD on,
        the pass's body features are kept for ``losses`` on this very output."""
        if self.config.feature_kd == "none":
            return self.student(crops.lq)
        out, features = self.student(crops.lq, return_features=True)
        self._last_features = (out, features)
        return out

    def _student_features(self, crops: CropBatch, student_out: torch.Tensor) -> list[torch.Tensor]:
        if self._last_features is None or self._last_features[0] is not student_out:
            raise RuntimeError("feature KD needs the student output of QATSession.forward on these crops")
        return self._last_features[1]

    @staticmethod
    def observe(crops: CropBatch, student_out: torch.Tensor) -> torch.Tensor:
        """Raw (N, 4, 8, 8) difficulty grid (see spark_env.difficulty) from a forward pass."""
        dynamic = torch.stack([error_grid(student_out, crops.hr), error_grid(student_out, crops.teacher)], 1)
        return torch.cat([crops.static_grid, dynamic.cpu()], dim=1)

    def losses(self, crops: CropBatch, student_out: torch.Tensor,
               weights: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(reconstruction L1, spatial KD term, feature KD term) of a forward pass; ``weights`` (N, 8, 8) or None
        for uniform. The feature term is 0 unless ``feature_kd`` is set."""
        rec = F.l1_loss(student_out, crops.hr)
        kd = spatial_kd_loss(student_out, crops.teacher,
                             None if weights is None else weights.to(self.device), self.config.kd_loss)
        if self.config.feature_kd == "none":
            return rec, kd, torch.zeros((), device=rec.device)
        with torch.no_grad():
            _, teacher_features = self.teacher(crops.lq, return_features=True)
        feat = feature_kd_loss(self._student_features(crops, student_out), teacher_features, self.config.feature_kd)
        return rec, kd, feat

    def train(self, crops: CropBatch, student_out: torch.Tensor, weights: torch.Tensor | None,
              lambda_kd: float | None = None) -> dict[str, float]:
        """``inner_steps`` optimizer steps under one weight map. The first reuses ``student_out``.

        Returns the last step's losses; ``finite`` is False (and no update is applied) when a loss is not finite.
        """
        lambda_kd = self.config.lambda_kd if lambda_kd is None else lambda_kd
        for inner in range(self.config.inner_steps):
            if inner > 0:
                student_out = self.forward(crops)
            rec, kd, feat = self.losses(crops, student_out, weights)
            loss = rec + lambda_kd * kd + self.config.lambda_feat * feat
            figures = {"loss": loss.item(), "rec_loss": rec.item(), "kd_loss": kd.item(), "feat_loss": feat.item()}
            if not torch.isfinite(loss):
                return {**figures, "finite": False}
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.steps_done += 1
        return {**figures, "finite": True}

    def lookahead_scores(self, crops: CropBatch) -> torch.Tensor:
        """(N, 8, 8) first-order probe-PSNR change (dB per unit weight) of one QAT step when a cell's KD weight rises
        from the uniform map (spark_env.lookahead). Leaves the run's state, and a pending ``forward``, untouched."""
        pending = self._last_features
        try:
            return lookahead_scores(self, crops)
        finally:
            self._last_features = pending

    @torch.no_grad()
    def probe_outputs(self) -> torch.Tensor:
        self.student.eval()
        out = self.student(self.probe_lq).cpu()
        self.student.train()
        return out

    def probe_psnr(self) -> float:
        """Mean PSNR-Y (dB) of the student on the probe crops."""
        out = self.probe_outputs()
        return self._psnr(out, self.probe_hr) if torch.isfinite(out).all() else -math.inf

    def val_psnr(self) -> float:
        """Mean PSNR-Y (dB) of the student over the whole validation images (the metric of the test tables, on the
        validation split: ``val_folder`` or the embedded one; never the test images). Appended to
        ``val_history``; ``-inf`` when an output is not finite."""
        if self._val_pairs is None:
            self._val_pairs = load_pairs(self.task, "val", self.config.val_folder)
        value = evaluate(self.student, self._val_pairs, self.task, self.device, with_ssim=False)["psnr"]
        value = value if math.isfinite(value) else -math.inf
        self.val_history.append((self.steps_done, value))
        return value

    def probe_ssim(self) -> float:
        return ssim(self.probe_outputs(), self.probe_hr, border=measure_border(self.task))

    def crop_psnr(self, crops: CropBatch, student_out: torch.Tensor | None = None) -> list[float]:
        """Per-crop PSNR-Y of the student (a fresh no-grad forward unless ``student_out`` is given)."""
        if student_out is None:
            with torch.no_grad():
                student_out = self.student(crops.lq)
        return [self._psnr(o, h) for o, h in zip(student_out.detach().cpu(), crops.hr.cpu())]

    def snapshot(self) -> tuple[dict, dict, int]:
        """Copy of the run's state (student, optimizer, step count), for counterfactual rewards."""
        return (copy.deepcopy(self.student.state_dict()), copy.deepcopy(self.optimizer.state_dict()),
                self.steps_done)

    def restore(self, state: tuple[dict, dict, int]) -> None:
        """Return to a ``snapshot``; the snapshot stays intact, so it can be restored again (the optimizer would
        otherwise keep the snapshot's state tensors and update them in place)."""
        self.student.load_state_dict(state[0])
        self.optimizer.load_state_dict(copy.deepcopy(state[1]))
        self.steps_done = state[2]
