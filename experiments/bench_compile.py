"""``torch.compile`` on this machine: compile time and step time of the QAT step, the probe and the test evaluation.

    python -m experiments.bench_compile [--arch fsrcnn] [--steps 64] [--backend inductor] [--threads 1]
                                        [--preset quick]

Two sessions of the preset (``quick``: W4A4, seed 0) train side by side, one with the student as it is (eager) and
one with ``torch.compile(student)``; their QAT steps (8 crops, uniform KD) are timed interleaved, as
``experiments.bench_env`` times its steps. The compiled student's first training step, first probe evaluation and
first pass over the 24 test photographs (whose sizes differ: dynamic shapes) include their compile time; they are
reported apart. The quantizers read their signedness with ``Tensor.item()``, so Dynamo is told to capture scalar
outputs (without it every quantizer breaks the graph). Prints milliseconds, the median ratio compiled / eager, and
both runs' final test PSNR (compiled kernels round differently: a QAT run amplifies that).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch._dynamo

import spark_env
from experiments.bench_env import interleaved_ms, raw_qat_step, timed_ms
from spark_env.data import load_pairs
from spark_env.evaluation import evaluate
from spark_env.qat import QATSession


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="quick", help="env preset of the two sessions")
    parser.add_argument("--arch", default="fsrcnn")
    parser.add_argument("--steps", type=int, default=64, help="QAT steps of each run (the quick preset's 64)")
    parser.add_argument("--backend", default="inductor", help="torch.compile backend")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the experiments use 1 per run)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with torch._dynamo.config.patch(capture_scalar_outputs=True):
        measure(args)
    torch._dynamo.reset()


def measure(args: argparse.Namespace) -> None:
    """Build, step and evaluate the two sessions (see the module docstring); prints the figures."""
    sessions = {}
    for name in ("eager", "compiled"):
        sessions[name] = QATSession(spark_env.make_config(args.preset, arch=args.arch, w_bits=4, a_bits=4))
        sessions[name].start(0)
    sessions["compiled"].student = torch.compile(sessions["compiled"].student, backend=args.backend)
    first = {name: timed_ms(lambda s=session: raw_qat_step(s, 8, None)) for name, session in sessions.items()}
    times = interleaved_ms({name: (lambda s=session: raw_qat_step(s, 8, None)) for name, session in sessions.items()},
                           rounds=args.steps - 1, warmup=0)
    ratio = np.median(times["compiled"] / times["eager"])
    print(f"{args.arch}, {args.backend}, {args.threads} thread(s): first QAT step eager {first['eager']:.0f} ms, "
          f"compiled {first['compiled']:.0f} ms (compile included); then median eager "
          f"{np.median(times['eager']):.1f} ms, compiled {np.median(times['compiled']):.1f} ms, median ratio "
          f"compiled / eager {ratio:.2f}")
    config = sessions["eager"].config
    pairs = load_pairs(sessions["eager"].task, "test", image_set=config.image_set)
    for name, session in sessions.items():
        probe = [timed_ms(session.probe_psnr) for _ in range(2)]
        began = time.perf_counter()
        first_eval = evaluate(session.student, pairs, session.task)["psnr"]
        evaluations = [1000.0 * (time.perf_counter() - began), timed_ms(lambda: evaluate(session.student, pairs,
                                                                                             session.task))]
        print(f"{name}: probe {probe[0]:.0f} / {probe[1]:.0f} ms (first / second), {len(pairs)} test photographs "
              f"{evaluations[0]:.0f} / {evaluations[1]:.0f} ms, final test PSNR {first_eval!r} dB")


if __name__ == "__main__":
    main()
