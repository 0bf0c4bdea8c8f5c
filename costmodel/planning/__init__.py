"""Planning: the best model for a budget, over its life, and side by side.

- :func:`compute_optimal` (:mod:`.optimal`): the loss-minimising size and data for a budget in
  FLOP, dollars, device-hours or energy (Hoffmann et al. 2022; Besiroglu et al. 2024), with
  repeated data discounted (Muennighoff et al. 2023) and the lifetime-optimal size that also
  pays for serving (Sardana et al. 2023).
- :func:`compare_sizes` (:mod:`.compare`): is bigger better? loss, training and serving cost per size.
- :func:`compare_models` (:mod:`.compare`): catalogued models trained on their default data
  (:func:`default_workload`) and served on given hardware.
- :mod:`.budget`: what a budget buys, and the serving run that prices a model's use.
- :func:`plan_training` (:mod:`.training`): the cheapest (or, with a budget, the fastest) device
  type, device count and layout that trains a model by a deadline.
- :func:`plan_serving` (:mod:`.serving`): the cheapest replicas, layout, batch limit, precision
  and engine that serve a request rate within p99 TTFT and TPOT targets.

Serving is priced on the hardware the caller names (``serve_hardware``), on the fewest
power-of-two devices that hold the model.
"""

from .budget import DEFAULT_HARDWARE, SERVING, budget_flops, budget_used, parse_budget, serve, serve_interactive
from .compare import (CHINCHILLA_RULE, CHINCHILLA_TOKENS_PER_PARAM, LOSS_PRECISION, compare_models, compare_sizes,
                      default_workload)
from .optimal import OptimalResult, compute_optimal
from .serving import INTERACTIVE_SLA, ServingOption, ServingPlan, plan_serving
from .training import TrainingPlan, plan_training

__all__ = ["OptimalResult", "compute_optimal", "compare_sizes", "compare_models", "default_workload", "serve", "serve_interactive",
           "parse_budget", "budget_flops", "budget_used", "CHINCHILLA_TOKENS_PER_PARAM", "CHINCHILLA_RULE",
           "LOSS_PRECISION", "DEFAULT_HARDWARE", "SERVING", "TrainingPlan", "plan_training", "ServingPlan", "ServingOption",
           "plan_serving", "INTERACTIVE_SLA"]
