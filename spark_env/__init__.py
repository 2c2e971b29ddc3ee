"""spark_env: a Gymnasium benchmark of spatially adaptive knowledge distillation for low-bit QAT of
image-restoration networks (the SPARK method, arXiv 2606.15243)."""
__version__ = "0.1.0"
