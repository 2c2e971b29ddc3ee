"""Image-restoration networks by name, and their full-precision teacher weights."""
from spark_env.models.common import SCALES, RestorationNet
from spark_env.models.registry import ARCHITECTURES, architecture_options, build_model
from spark_env.models.teachers import load_teacher, load_weights, save_weights, shipped_teachers

__all__ = ["ARCHITECTURES", "SCALES", "RestorationNet", "architecture_options", "build_model", "load_teacher",
           "load_weights", "save_weights", "shipped_teachers"]
