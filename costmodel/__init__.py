"""costmodel: what training or serving a model will cost, with units and sources.

>>> import costmodel
>>> costmodel.get_hardware("h100").dense["bf16"].to("TFLOP/s").magnitude
989.4
"""

from .errors import CostModelError, InputError, ProfileError, UnitError, UnknownProfileError
from .hardware import HardwareProfile, get_hardware, list_hardware
from .inference_estimate import InferenceEstimate, InferenceMemory, estimate_inference
from .models import ModelSpec, get_model, list_models
from .regions import Region, get_region, list_regions
from .training_estimate import MemoryBreakdown, TrainingEstimate, estimate_training
from .units import Quantity, ureg

__version__ = "0.1.0"

__all__ = [
    "CostModelError",
    "HardwareProfile",
    "InferenceEstimate",
    "InferenceMemory",
    "InputError",
    "MemoryBreakdown",
    "ModelSpec",
    "ProfileError",
    "Quantity",
    "Region",
    "TrainingEstimate",
    "UnitError",
    "UnknownProfileError",
    "__version__",
    "estimate_inference",
    "estimate_training",
    "get_hardware",
    "get_model",
    "get_region",
    "list_hardware",
    "list_models",
    "list_regions",
    "ureg",
]
