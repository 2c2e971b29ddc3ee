"""The inner loop of an episode: one QAT run of a low-bit student distilled from a frozen teacher.

A ``QATSession`` is built from its pieces: the frozen teacher, the FP network the student is quantized from, the
training set (crops with cached teacher outputs and a static difficulty map, ``spark_env.training_set``) and what
the run is measured on (probe crops and whole validation images, ``spark_env.probe``). ``start(seed)`` begins a
run: the quantized student and its optimizer. The environment drives it; baselines and benchmarks can drive it
directly. One training step, for a batch of crops and (N, 8, 8) weight maps W::

    L = L1(S(x), y) + lambda_kd * mean( upsample(W) * l_kd(S(x), T(x)) ) + lambda_feat * feature KD term

The contract between the calls is explicit: ``forward(crops)`` returns a ``StudentPass`` (the output and, with
feature KD on, the body features of that same pass), and ``losses`` / ``optimize`` take it. With ``feature_kd``
set (``at`` or ``fakd``), the teacher's body features are computed per crop, under no_grad.
"""
from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from spark_env.config import SparkConfig
from spark_env.data import get_task, load_pairs
from spark_env.device import resolve_device
from spark_env.difficulty import error_grid
from spark_env.errors import ConfigError
from spark_env.kd import feature_kd_loss, spatial_kd_loss
from spark_env.lookahead import lookahead_scores
from spark_env.metrics import psnr
from spark_env.models import load_teacher
from spark_env.models.teachers import load_weights
from spark_env.probe import ProbeSet, ValidationSet
from spark_env.quant import QuantSettings, make_student, qat_optimizer
from spark_env.training_set import CropBatch, TrainingSet

CALIBRATION_CROPS = 8
_TEACHER_PROBE_PSNR: dict[tuple, float] = {}  # the frozen teacher's probe PSNR per configuration it depends on


@dataclass
class StudentPass:
    """One training-mode forward pass of the student on a CropBatch: ``output`` (N, 3, H, W) with its graph, and
    the body features of the same pass (empty unless feature KD is on)."""

    output: torch.Tensor
    features: list[torch.Tensor] = field(default_factory=list)


@dataclass
class RunState:
    """A copy of a run's state (``QATSession.snapshot``): student and optimizer state dicts, QAT steps done."""

    student: dict
    optimizer: dict
    steps_done: int


class QATSession:
    """Teacher, training set and probe / validation sets of one configuration; ``start(seed)`` begins a QAT run.

    Attributes of the current run: ``student`` (the quantized network), ``optimizer``, ``rng`` (its crop
    generator), ``steps_done`` (optimizer steps), ``val_history`` ((steps done, validation PSNR) of its
    ``val_psnr`` evaluations).
    """

    def __init__(self, config: SparkConfig) -> None:
        self.config = config
        self.task = get_task(config.task)
        self.device = resolve_device(config.device)
        self.teacher = self._placed(load_teacher(config.teacher_architecture, config.task, config.teacher_weights))
        self.fp_student = self._placed(self._student_init())
        train_pairs = load_pairs(self.task, "train", config.train_folder, image_set=config.image_set)
        # what the frozen teacher's outputs depend on, besides the images: the keys of the per-process caches
        teacher_key = (config.teacher_architecture, config.task, config.teacher_weights, str(self.device),
                       config.channels_last)
        self.training_set = TrainingSet(train_pairs, config.crop_size, self.task.scale, self.device,
                                        self._teacher_output, (*teacher_key, config.train_folder, config.image_set),
                                        getattr(torch, config.teacher_cache))
        self.quant = QuantSettings(config.w_bits, config.a_bits, config.quantizer, config.per_channel,
                                   calibration=config.calibration, quantize_head=config.quantize_head,
                                   quantize_tail=config.quantize_tail)
        self.validation = ValidationSet(self.task, config.val_folder, config.image_set, self.device)
        self.probe = ProbeSet(self.validation.pairs, config.probe_crops, config.probe_crop_size, self.task,
                              self.device, config.probe_pooling)
        probe_key = (*teacher_key, config.val_folder, config.image_set, config.probe_crops, config.probe_crop_size,
                     config.probe_pooling)
        if probe_key not in _TEACHER_PROBE_PSNR:  # the teacher is frozen: one evaluation per process
            _TEACHER_PROBE_PSNR[probe_key] = self.probe.psnr_of(self._teacher_output(self.probe.lq).cpu())
        self.teacher_probe_psnr = _TEACHER_PROBE_PSNR[probe_key]
        self.val_history: list[tuple[int, float]] = []
        self.student: torch.nn.Module | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.rng = np.random.default_rng(0)
        self.steps_done = 0

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

    def _placed(self, network: torch.nn.Module) -> torch.nn.Module:
        """The network on the session's device, in channels-last layout when ``channels_last`` is set."""
        network = network.to(self.device)
        return network.to(memory_format=torch.channels_last) if self.config.channels_last else network

    @torch.no_grad()
    def _teacher_output(self, lq: torch.Tensor) -> torch.Tensor:
        return self.teacher(lq.to(self.device))

    # ---- one QAT run -------------------------------------------------------------------------------------------
    def start(self, seed: int) -> None:
        """Fresh run: quantize the FP student, calibrate on seeded training crops, new optimizer, seeded crops.
        Every random draw comes from generators seeded here (the caller's global torch / numpy state is untouched)."""
        self.rng = np.random.default_rng(seed)
        calibration = self.sample(CALIBRATION_CROPS).lq
        with torch.random.fork_rng(devices=[]):  # anything in quantization that draws from torch's global generator
            torch.manual_seed(seed)
            self.student = make_student(self.fp_student, self.quant, [calibration], seed=seed)
        self.student = self._placed(self.student).train()
        self.optimizer = qat_optimizer(self.student, self.config.lr, self.config.quant_lr)
        self.steps_done = 0
        self.val_history = []

    def sample(self, count: int) -> CropBatch:
        """``count`` random aligned training crops (side ``crop_size``) from the run's generator."""
        return self.training_set.sample(count, self.rng)

    def forward(self, crops: CropBatch) -> StudentPass:
        """The student's training-mode forward pass on the crops, with its graph (what a step trains on)."""
        if self.config.feature_kd == "none":
            return StudentPass(self.student(crops.lq))
        output, features = self.student(crops.lq, return_features=True)
        return StudentPass(output, features)

    @staticmethod
    def observe(crops: CropBatch, student_pass: StudentPass) -> torch.Tensor:
        """Raw (N, 4, 8, 8) difficulty grid (see spark_env.difficulty) of a forward pass, on the CPU."""
        out = student_pass.output
        dynamic = torch.stack([error_grid(out, crops.hr), error_grid(out, crops.teacher)], 1)
        return torch.cat([crops.static_grid, dynamic.cpu()], dim=1)

    def losses(self, crops: CropBatch, student_pass: StudentPass,
               weights: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(reconstruction L1, spatial KD term, feature KD term) of a forward pass; ``weights`` (N, 8, 8) or None
        for uniform. The feature term is 0 unless ``feature_kd`` is set."""
        out = student_pass.output
        rec = F.l1_loss(out, crops.hr)
        kd = spatial_kd_loss(out, crops.teacher, None if weights is None else weights.to(self.device),
                             self.config.kd_loss)
        if self.config.feature_kd == "none":
            return rec, kd, torch.zeros((), device=rec.device)
        if not student_pass.features:
            raise ValueError("feature KD needs the body features of the pass; build it with QATSession.forward")
        with torch.no_grad():
            _, teacher_features = self.teacher(crops.lq, return_features=True)
        return rec, kd, feature_kd_loss(student_pass.features, teacher_features, self.config.feature_kd)

    def total_loss(self, crops: CropBatch, student_pass: StudentPass, weights: torch.Tensor | None,
                   lambda_kd: float | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """The training loss of a pass and its terms as floats (``loss``, ``rec_loss``, ``kd_loss``,
        ``feat_loss``)."""
        lambda_kd = self.config.lambda_kd if lambda_kd is None else lambda_kd
        rec, kd, feat = self.losses(crops, student_pass, weights)
        loss = rec + lambda_kd * kd + self.config.lambda_feat * feat
        return loss, {"loss": loss.item(), "rec_loss": rec.item(), "kd_loss": kd.item(), "feat_loss": feat.item()}

    def optimize(self, crops: CropBatch, student_pass: StudentPass, weights: torch.Tensor | None,
                 lambda_kd: float | None = None) -> dict[str, float]:
        """``inner_steps`` optimizer steps on the crops under one weight map; the first uses ``student_pass``.

        Returns the last step's losses; ``finite`` is False (and no update is applied) when a loss is not finite.
        """
        for inner in range(self.config.inner_steps):
            if inner > 0:
                student_pass = self.forward(crops)
            loss, figures = self.total_loss(crops, student_pass, weights, lambda_kd)
            if not torch.isfinite(loss):
                return {**figures, "finite": False}
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.steps_done += 1
        return {**figures, "finite": True}

    def lookahead_scores(self, crops: CropBatch) -> torch.Tensor:
        """(N, 8, 8) first-order probe-PSNR change (dB per unit weight) of one QAT step when a cell's KD weight rises
        from the uniform map (spark_env.lookahead), from a fresh forward pass. Leaves the run's state untouched."""
        def loss_of_weights(weights: torch.Tensor) -> torch.Tensor:
            return self.total_loss(crops, self.forward(crops), weights)[0]

        probe = self.lookahead_probe
        return lookahead_scores(self.student, self.optimizer, loss_of_weights, crops.lq.shape[0], probe.lq,
                                probe.hr, probe.border)

    @functools.cached_property
    def lookahead_probe(self) -> ProbeSet:
        """The probe the lookahead differentiates: ``lookahead_crops`` fixed validation crops of
        ``lookahead_crop_size`` LR pixels (built on first use)."""
        return ProbeSet(self.validation.pairs, self.config.lookahead_crops, self.config.lookahead_crop_size,
                        self.task, self.device)

    def probe_psnr(self) -> float:
        """PSNR-Y (dB) of the student on the probe crops, pooled as ``probe_pooling`` says (``-inf`` for a
        non-finite output)."""
        return self.probe.psnr(self.student)

    def probe_ssim(self) -> float:
        """Mean SSIM-Y of the student on the probe crops."""
        return self.probe.ssim(self.student)

    def val_psnr(self) -> float:
        """Mean PSNR-Y (dB) of the student over the whole validation images (never the test images); appended to
        ``val_history``; ``-inf`` when an output is not finite."""
        value = self.validation.psnr(self.student)
        self.val_history.append((self.steps_done, value))
        return value

    def crop_psnr(self, crops: CropBatch, output: torch.Tensor | None = None) -> list[float]:
        """Per-crop PSNR-Y of the student (a fresh no-grad forward unless its ``output`` on the crops is given)."""
        if output is None:
            with torch.no_grad():
                output = self.student(crops.lq)
        return [psnr(o, h, border=self.probe.border) for o, h in zip(output.detach().cpu(), crops.hr.cpu())]

    def snapshot(self) -> RunState:
        """Copy of the run's state (student, optimizer, step count), for counterfactuals."""
        return RunState(copy.deepcopy(self.student.state_dict()), copy.deepcopy(self.optimizer.state_dict()),
                        self.steps_done)

    def rollback(self, state: RunState) -> None:
        """Return to a ``snapshot``; the snapshot stays intact, so it can be rolled back to again (the optimizer
        would otherwise keep the snapshot's state tensors and update them in place)."""
        self.student.load_state_dict(state.student)
        self.optimizer.load_state_dict(copy.deepcopy(state.optimizer))
        self.steps_done = state.steps_done
