"""Fake quantization of restoration networks: QAT students, PTQ calibration, bit widths 2..8, mixed precision."""
from spark_env.quant.calibration import CALIBRATION_METHODS, calibrate
from spark_env.quant.layers import QuantConv2d
from spark_env.quant.model import quantizable_layers, quantize_model, quantized_layers
from spark_env.quant.quantizers import (ACTIVATION_QUANTIZERS, LSQQuantizer, PAMSQuantizer, WeightQuantizer,
                                        check_bits)
from spark_env.quant.student import QuantSettings, make_student, qat_optimizer

__all__ = ["ACTIVATION_QUANTIZERS", "CALIBRATION_METHODS", "LSQQuantizer", "PAMSQuantizer", "QuantConv2d",
           "QuantSettings", "WeightQuantizer", "calibrate", "check_bits", "make_student", "qat_optimizer",
           "quantizable_layers", "quantize_model", "quantized_layers"]
