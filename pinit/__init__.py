"""pinit: see what weight initialization does to a neural network.

The backend of the pinit dashboard, usable on its own from a notebook or script::

    import pinit
    model = pinit.build_model("SimpleCNN")
    pinit.apply_plan(model, pinit.PRESETS["Kaiming (He)"].plan, seed=0)
    print(pinit.parameter_table(model, pinit.PRESETS["Kaiming (He)"].plan))
"""

from .checkpoint import DEFAULT_MAX_BYTES, CheckpointError, LoadedCheckpoint, load_checkpoint, save_state_dict
from .distributions import Distribution
from .errors import PlanError
from .models import MODELS, ArticleSimpleCNN, DeepMLP, SimpleCNN, build_model
from .data import CLASS_NAMES, make_dataset
from .export import export_code
from .lsuv import lsuv
from .plan import InitPlan, Rule, apply_plan, assignments, check_plan, param_seed
from .plan_io import PLAN_VERSION, load_plan_file, plan_to_json
from .presets import PRESETS, Preset
from .probes import activation_second_moment, activation_stats, gradient_stats, predicted_std_trend, probe_batch, probe_targets
from .schemes import SCHEMES, Param, Scheme, TensorInfo, fans, gain, get_scheme
from .train import evaluate, train
from .stats import Histogram, TensorSummary, histogram, parameter_histograms, parameter_table, summarize

__all__ = [
    "CLASS_NAMES",
    "activation_second_moment",
    "activation_stats",
    "evaluate",
    "gradient_stats",
    "lsuv",
    "make_dataset",
    "predicted_std_trend",
    "probe_batch",
    "probe_targets",
    "train",
    "CheckpointError",
    "DEFAULT_MAX_BYTES",
    "LoadedCheckpoint",
    "PLAN_VERSION",
    "export_code",
    "load_checkpoint",
    "load_plan_file",
    "plan_to_json",
    "save_state_dict",
    "ArticleSimpleCNN",
    "DeepMLP",
    "Distribution",
    "Histogram",
    "InitPlan",
    "MODELS",
    "PRESETS",
    "Param",
    "PlanError",
    "Preset",
    "Rule",
    "SCHEMES",
    "Scheme",
    "SimpleCNN",
    "TensorInfo",
    "TensorSummary",
    "apply_plan",
    "assignments",
    "build_model",
    "check_plan",
    "fans",
    "gain",
    "get_scheme",
    "histogram",
    "param_seed",
    "parameter_histograms",
    "parameter_table",
    "summarize",
]
