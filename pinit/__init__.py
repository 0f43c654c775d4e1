"""pinit: see what weight initialization does to a neural network.

The backend of the pinit dashboard, usable on its own from a notebook or script::

    import pinit
    model = pinit.build_model("SimpleCNN")
    pinit.apply_plan(model, pinit.PRESETS["Kaiming (He)"].plan, seed=0)
    print(pinit.parameter_table(model, pinit.PRESETS["Kaiming (He)"].plan))
"""

from .distributions import Distribution
from .errors import PlanError
from .fans import layer_fans, register_fans
from .lab.data import CLASS_NAMES, make_dataset
from .lab.lsuv import lsuv
from .lab.probes import (
    activation_second_moment,
    activation_stats,
    gradient_stats,
    predicted_std_trend,
    probe_batch,
    probe_targets,
)
from .lab.train import evaluate, train
from .lab.transformer import residual_stream_std
from .lab.width import coord_check
from .models import MODELS, ArticleSimpleCNN, DeepMLP, SimpleCNN, TinyGPT, build_model
from .plan import InitPlan, Rule, apply_plan, assignments, check_plan, param_seed
from .presets import PRESETS, Preset
from .registry import load_factory
from .schemes import SCHEMES, Param, Scheme, TensorInfo, fans, gain, get_scheme
from .share.checkpoint import DEFAULT_MAX_BYTES, CheckpointError, LoadedCheckpoint, load_checkpoint, save_state_dict
from .share.export import export_code
from .share.plan_io import PLAN_VERSION, load_plan_file, plan_to_json
from .stats import Histogram, TensorSummary, histogram, parameter_histograms, parameter_table, summarize

__all__ = [
    "CLASS_NAMES",
    "DEFAULT_MAX_BYTES",
    "MODELS",
    "PLAN_VERSION",
    "PRESETS",
    "SCHEMES",
    "ArticleSimpleCNN",
    "CheckpointError",
    "DeepMLP",
    "Distribution",
    "Histogram",
    "InitPlan",
    "LoadedCheckpoint",
    "Param",
    "PlanError",
    "Preset",
    "Rule",
    "Scheme",
    "SimpleCNN",
    "TensorInfo",
    "TensorSummary",
    "TinyGPT",
    "activation_second_moment",
    "activation_stats",
    "apply_plan",
    "assignments",
    "build_model",
    "check_plan",
    "coord_check",
    "evaluate",
    "export_code",
    "fans",
    "gain",
    "get_scheme",
    "gradient_stats",
    "histogram",
    "layer_fans",
    "load_checkpoint",
    "load_factory",
    "load_plan_file",
    "lsuv",
    "make_dataset",
    "param_seed",
    "parameter_histograms",
    "parameter_table",
    "plan_to_json",
    "predicted_std_trend",
    "probe_batch",
    "probe_targets",
    "register_fans",
    "residual_stream_std",
    "save_state_dict",
    "summarize",
    "train",
]
