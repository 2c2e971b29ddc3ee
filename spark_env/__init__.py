"""spark_env: a Gymnasium benchmark of spatially adaptive knowledge distillation for low-bit QAT of
image-restoration networks (the SPARK method, arXiv 2606.15243).

``import spark_env`` registers ``SparkKD-v0`` (single env and natively batched vector entry point).
"""
import gymnasium

from spark_env.config import PRESETS, SparkConfig, load_config, make_config

__version__ = "0.1.0"

if "SparkKD-v0" not in gymnasium.registry:
    gymnasium.register(id="SparkKD-v0", entry_point="spark_env.env:SparkKDEnv",
                       vector_entry_point="spark_env.vector_env:SparkKDVectorEnv")

__all__ = ["PRESETS", "SparkConfig", "load_config", "make_config"]
