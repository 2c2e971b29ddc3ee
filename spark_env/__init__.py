"""spark_env: a Gymnasium benchmark of spatially adaptive knowledge distillation for low-bit QAT of
image-restoration networks (the SPARK method, arXiv 2606.15243).

``import spark_env`` registers the env ids (single env and natively batched vector entry point):
``SparkKD-v1`` (the default protocol: image set v1 of ``spark_env.data.embedded``) and ``SparkKD-v0`` (the earlier
protocol: image set v0, three test photographs), identical otherwise.
"""
import gymnasium

from spark_env.config import PRESETS, SparkConfig, load_config, make_config

__version__ = "0.1.0"

ENV_ID = "SparkKD-v1"
for _image_set in ("v0", "v1"):
    if f"SparkKD-{_image_set}" not in gymnasium.registry:
        gymnasium.register(id=f"SparkKD-{_image_set}", entry_point="spark_env.env:SparkKDEnv",
                           vector_entry_point="spark_env.vector_env:SparkKDVectorEnv",
                           kwargs={"image_set": _image_set})

__all__ = ["ENV_ID", "PRESETS", "SparkConfig", "load_config", "make_config"]
