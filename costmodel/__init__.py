"""costmodel: what training or serving a model will cost, with units and sources.

>>> import costmodel
>>> costmodel.get_hardware("h100").dense["bf16"].to("TFLOP/s").magnitude
989.4

Names are imported on first use (PEP 562), so ``import costmodel`` and the CLI start fast.
"""

from importlib import import_module

from .errors import (CostModelError, InputError, ProfileError, UnitError, UnknownProfileError,  # noqa: F401
                     WriteError)

__version__ = "0.1.0"

_LAZY = {
    "ureg": "units", "Quantity": "units",
    "HardwareProfile": "hardware", "get_hardware": "hardware", "list_hardware": "hardware", "reload_profiles": "hardware",
    "ModelSpec": "models", "get_model": "models", "list_models": "models", "model_from_config": "configs",
    "Region": "regions", "get_region": "regions", "list_regions": "regions",
    "TrainingEstimate": "results.training", "MemoryBreakdown": "results.training",
    "estimate_training": "training_estimate",
    "InferenceEstimate": "results.inference", "InferenceMemory": "results.inference",
    "estimate_inference": "inference_estimate",
    "sweep_training": "sweep", "sweep_inference": "sweep",
    "provenance": "calibration", "Calibration": "calibration", "default_calibration": "calibration",
    "load_calibration": "calibration",
    "predict_loss": "scaling",
    "compute_optimal": "planning", "compare_sizes": "planning", "compare_models": "planning",
    "OptimalResult": "planning", "compare_variants": "variants",
    "plan_training": "planning", "TrainingPlan": "planning",
    "plan_serving": "planning", "ServingPlan": "planning",
    "write_report": "report",
}

__all__ = sorted([
    "CostModelError", "InputError", "ProfileError", "UnitError", "UnknownProfileError", "WriteError",
    "__version__", *_LAZY,
])


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'costmodel' has no attribute {name!r}")


def __dir__():
    return __all__
