"""The training set's cached teacher outputs: float32 by default, float16 on request (half the memory)."""
import numpy as np
import torch

import spark_env
from spark_env.qat import QATSession


def test_half_precision_teacher_cache_halves_its_memory_and_serves_float32_crops_within_rounding():
    sessions = {dtype: QATSession(spark_env.make_config("tiny", teacher_cache=dtype)) for dtype in ("float32", "float16")}
    full, half = (sessions[d].training_set for d in ("float32", "float16"))
    assert full.image(0).teacher.dtype == torch.float32 and half.image(0).teacher.dtype == torch.float16
    assert half.image(0).teacher.nbytes * 2 == full.image(0).teacher.nbytes
    crops_full, crops_half = full.sample(4, np.random.default_rng(1)), half.sample(4, np.random.default_rng(1))
    assert crops_half.teacher.dtype == torch.float32
    assert torch.equal(crops_full.lq, crops_half.lq) and torch.equal(crops_full.hr, crops_half.hr)
    scale = crops_full.teacher.abs().clamp_min(2.0 ** -14)  # float16's smallest normal number
    assert ((crops_half.teacher - crops_full.teacher).abs() / scale).max() <= 2.0 ** -11
    assert not torch.equal(crops_full.teacher, crops_half.teacher)  # the two caches are not shared
