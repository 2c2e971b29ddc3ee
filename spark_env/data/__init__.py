"""Data: the embedded default images and their split, benchmark folders, degradations (tasks) and crops."""
from spark_env.data.embedded import DEFAULT_IMAGE_SET, IMAGE_SETS, SPLITS, embedded_images, split_names
from spark_env.data.folders import iter_benchmark_folder, training_images
from spark_env.data.io import read_image, to_image, to_tensor, write_image
from spark_env.data.pairs import ImagePair, crop_batch, fresh_training_batch, load_pairs, make_pair, random_crop
from spark_env.data.resize import imresize
from spark_env.data.tasks import TASKS, Task, get_task

__all__ = [
    "DEFAULT_IMAGE_SET", "IMAGE_SETS", "SPLITS", "TASKS", "ImagePair", "Task", "crop_batch", "embedded_images",
    "fresh_training_batch",
    "get_task", "imresize", "iter_benchmark_folder", "load_pairs", "make_pair", "random_crop", "read_image",
    "split_names",
    "to_image", "to_tensor", "training_images", "write_image",
]
