"""spark_env: a Gymnasium benchmark of spatially adaptive knowledge distillation for low-bit QAT of
image-restoration networks (the SPARK method, arXiv 2606.15243).

``import spark_env`` registers the env ids (single env and natively batched vector entry point), one per protocol
(spark_env.protocols): ``SparkKD-v2`` (the default: image set v1 of ``spark_env.data.embedded``, the probe of
image-pooled validation crops), ``SparkKD-v1`` (image set v1, the earlier per-crop probe) and ``SparkKD-v0`` (image
set v0, three test photographs).
"""
import gymnasium

from spark_env.config import PRESETS, SparkConfig, load_config, make_config

__version__ = "0.1.0"

from spark_env.protocols import ENV_ID, PROTOCOLS, env_id

for _version in PROTOCOLS:
    if env_id(_version) not in gymnasium.registry:
        gymnasium.register(id=env_id(_version), entry_point="spark_env.env:SparkKDEnv",
                           vector_entry_point="spark_env.vector_env:SparkKDVectorEnv",
                           kwargs={"protocol": _version})

__all__ = ["ENV_ID", "PRESETS", "SparkConfig", "load_config", "make_config"]
