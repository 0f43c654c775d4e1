"""pinit's dashboard: pick an init scheme per layer type, re-initialize, see every parameter.

A thin page: widgets -> pinit calls -> st.* output. All tensor math lives in pinit.
State is per browser tab (st.session_state); the only cache is keyed by everything
the result depends on and holds no model, so one person's re-init never reaches
another's page.

Run: streamlit run app.py
"""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

import pinit
from pinit.figures import histogram_figure, signal_gain_figure, std_overview_figure
from pinit.report import InitReport, inspect_model, layer_slots, schemes_for

UNTOUCHED = "untouched"  # sidebar choice for "no rule: keep the constructor's values"
NO_OVERRIDE = "(none)"
DEFAULT_PRESET = "PyTorch default"

st.set_page_config(page_title="pinit: weight initialization", page_icon="⚖️", layout="wide")


# --- computation (cached by value; no model object is shared) ------------------------

@st.cache_data(max_entries=256, show_spinner=False)
def cached_report(model_name: str, options_json: str, plan_json: str, seed: int, bins: int) -> InitReport:
    return inspect_model(model_name, json.loads(plan_json), seed, bins, json.loads(options_json))


@st.cache_data(max_entries=64, show_spinner=False)
def cached_slots(model_name: str, options_json: str) -> dict:
    return layer_slots(model_name, json.loads(options_json))


# --- sidebar widgets -------------------------------------------------------------------

def request_reinit() -> None:
    st.session_state["reinit_requested"] = True


def apply_preset() -> None:
    """Write the chosen preset into every rule widget, then re-initialize."""
    preset = pinit.PRESETS[st.session_state["preset"]]
    model_name, options = current_model()
    for layer_type, slots in cached_slots(model_name, json.dumps(options, sort_keys=True)).items():
        for slot in slots:
            rule = preset.plan["rules"].get(layer_type, {}).get(slot)
            set_rule_widgets(f"{layer_type}.{slot}", rule)
    st.session_state["override.name"] = NO_OVERRIDE
    request_reinit()


def set_rule_widgets(prefix: str, rule: dict | None) -> None:
    if rule is None:
        st.session_state[f"{prefix}.scheme"] = UNTOUCHED
        return
    rule = pinit.Rule.from_dict(rule, prefix).to_dict()
    st.session_state[f"{prefix}.scheme"] = rule["scheme"]
    for key, value in rule.items():
        if key != "scheme":
            st.session_state[f"{prefix}.{key}"] = value


def current_model() -> tuple[str, dict[str, Any]]:
    name = st.session_state.get("model", "SimpleCNN")
    spec = pinit.MODELS[name]
    options = {k: st.session_state.get(f"model.{k}", v) for k, v in spec.options.items()}
    return name, options


def model_ui() -> tuple[str, dict[str, Any]]:
    st.selectbox("Model", list(pinit.MODELS), key="model", format_func=lambda n: pinit.MODELS[n].label,
                 on_change=request_reinit, help="Which network to re-initialize.")
    name, _ = current_model()
    st.caption(pinit.MODELS[name].description)
    if name == "DeepMLP":
        st.slider("Depth (Linear layers)", 1, 100, key="model.depth", value=10, on_change=request_reinit)
        st.select_slider("Width", [16, 32, 64, 128, 256, 512, 1024], key="model.width", value=256, on_change=request_reinit)
        st.selectbox("Activation", list(pinit.models.ACTIVATIONS), key="model.activation", on_change=request_reinit)
    return current_model()


def param_widget(prefix: str, param: pinit.Param) -> Any:
    """One widget per scheme parameter, bounded by the parameter's allowed range."""
    key = f"{prefix}.{param.name}"
    if param.kind == "choice":
        if st.session_state.get(key) not in param.choices:
            st.session_state[key] = param.default
        return st.selectbox(param.name, param.choices, key=key, help=param.help)
    if param.kind == "int":
        value = st.session_state.get(key, param.default)
        st.session_state[key] = int(min(max(value, param.low), param.high))
        return st.number_input(param.name, int(param.low), int(param.high), step=1, key=key, help=param.help)
    low = param.low if not param.low_open else param.low + 1e-6
    value = float(st.session_state.get(key, param.default))
    st.session_state[key] = min(max(value, low), param.high)
    return st.number_input(param.name, float(low), float(param.high), step=0.01, format="%g", key=key,
                           help=f"{param.help} Allowed: {param.allowed()}.")


def rule_ui(prefix: str, label: str, shapes: list[tuple[int, ...]], allow_untouched: bool = True) -> dict | None:
    """Scheme picker for one slot, offering only schemes every tensor in the slot can take."""
    options = ([UNTOUCHED] if allow_untouched else []) + [s.name for s in schemes_for(shapes)]
    key = f"{prefix}.scheme"
    if st.session_state.get(key) not in options:
        st.session_state[key] = options[0]
    shape_text = ", ".join(str(tuple(s)) for s in shapes[:3]) + (" …" if len(shapes) > 3 else "")
    name = st.selectbox(label, options, key=key,
                        help=f"Tensors: {shape_text}. 'untouched' keeps the constructor's values (PyTorch default drawn "
                             "from the seed). Schemes this slot's shapes can't take are not offered.")
    if name == UNTOUCHED:
        return None
    scheme = pinit.SCHEMES[name]
    st.caption(scheme.summary.split(": ")[0].split(". ")[0].rstrip(".") + ".", help=scheme.summary)
    return {"scheme": name, **{p.name: param_widget(prefix, p) for p in scheme.params}}


def rules_ui(slots: dict[str, dict[str, list]]) -> dict:
    rules: dict[str, dict] = {}
    for layer_type, layer_slots_ in slots.items():
        with st.expander(f"{layer_type} layers", expanded=True):
            for slot, shapes in layer_slots_.items():
                rule = rule_ui(f"{layer_type}.{slot}", f"{layer_type} {slot}", shapes)
                if rule is not None:
                    rules.setdefault(layer_type, {})[slot] = rule
    return rules


def override_ui(slots_by_param: dict[str, tuple[int, ...]]) -> dict:
    with st.expander("Override one parameter", expanded=False):
        names = [NO_OVERRIDE] + list(slots_by_param)
        if st.session_state.get("override.name") not in names:
            st.session_state["override.name"] = NO_OVERRIDE
        name = st.selectbox("Parameter", names, key="override.name",
                            help="An override wins over the layer-type rule for this one tensor.")
        if name == NO_OVERRIDE:
            return {}
        rule = rule_ui("override", "Scheme for " + name, [slots_by_param[name]], allow_untouched=False)
        return {name: rule} if rule else {}


def sidebar_ui() -> dict:
    """Draw the sidebar; return the configuration it describes (not yet applied)."""
    with st.sidebar:
        st.header("Initialization")
        model_name, options = model_ui()
        st.selectbox("Preset", list(pinit.PRESETS), key="preset", on_change=apply_preset,
                     help="Sets every rule below in one click and re-initializes.")
        st.caption(pinit.PRESETS[st.session_state["preset"]].lesson)
        slots = cached_slots(model_name, json.dumps(options, sort_keys=True))
        rules = rules_ui(slots)
        params = parameter_names(model_name, options)
        overrides = override_ui(params)
        seed = st.number_input("Seed", 0, 2**31 - 1, step=1, key="seed",
                               help="Same model, plan and seed give bit-identical weights.")
        st.button("Re-initialize", type="primary", on_click=request_reinit, use_container_width=True)
    return {"model": model_name, "options": options, "plan": {"rules": rules, "overrides": overrides}, "seed": int(seed)}


@st.cache_data(max_entries=64, show_spinner=False)
def _parameter_shapes(model_name: str, options_json: str) -> dict[str, tuple[int, ...]]:
    import torch  # shapes only, on the meta device: nothing allocated

    with torch.device("meta"):
        model = pinit.build_model(model_name, **json.loads(options_json))
    return {n: tuple(p.shape) for n, p in model.named_parameters()}


def parameter_names(model_name: str, options: dict) -> dict[str, tuple[int, ...]]:
    return _parameter_shapes(model_name, json.dumps(options, sort_keys=True))


# --- state -----------------------------------------------------------------------------

def init_state() -> None:
    if "preset" not in st.session_state:
        st.session_state["preset"] = DEFAULT_PRESET
        st.session_state["seed"] = 0
        st.session_state["model"] = "SimpleCNN"
        apply_preset()


def try_apply(config: dict) -> list[str]:
    """Re-initialize with `config`; on success it becomes the shown state. Returns problems."""
    try:
        report_for(config, st.session_state.get("bins", 40))
    except pinit.PlanError as e:
        return e.problems
    except ValueError as e:  # bad model options
        return [str(e)]
    st.session_state["applied"] = config
    return []


def report_for(config: dict, bins: int) -> InitReport:
    return cached_report(config["model"], json.dumps(config["options"], sort_keys=True),
                         json.dumps(config["plan"], sort_keys=True), config["seed"], bins)


# --- main area -------------------------------------------------------------------------

def header_ui() -> None:
    st.title("pinit: what does weight initialization do?")
    st.markdown(
        "Pick a scheme per layer type in the sidebar and press **Re-initialize**. Every parameter's "
        "distribution is binned on the server; the red curve is what the scheme's formula predicts."
    )


@st.fragment
def results_ui(config: dict) -> None:
    """Everything drawn from the applied state. View-only widgets rerun just this fragment."""
    c1, c2 = st.columns([1, 1])
    bins = c1.slider("Histogram bins", 10, 200, 40, step=10, key="bins", help="Only changes the view.")
    log_y = c2.toggle("Log-scale counts", key="log_y", help="Shows the tails of heavy or truncated laws.")
    report = report_for(config, bins)
    t = report.table
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Parameters", f"{report.total_params:,}")
    m2.metric("Tensors", len(t))
    m3.metric("Seed", config["seed"])
    m4.metric("Non-finite values", int(t["nonfinite"].sum()))
    a, b = st.columns(2)
    a.plotly_chart(std_overview_figure(t), key="overview_std")
    b.plotly_chart(signal_gain_figure(t), key="overview_gain")
    table_ui(t)
    formula_ui(report)
    st.subheader("Every parameter's distribution")
    st.caption("Bars: measured counts per bin. Red: expected counts under the scheme's law. "
               "Dotted: measured mean ± σ; dashed: expected.")
    cols = st.columns(2)
    for i, h in enumerate(report.histograms):
        cols[i % 2].plotly_chart(histogram_figure(h, log_y=log_y), key=f"hist.{h.name}")


def table_ui(t) -> None:
    st.subheader("Parameters")
    num = st.column_config.NumberColumn
    st.dataframe(
        t,
        hide_index=True,
        column_config={
            "numel": num("numel", format="localized"),
            "mean": num("mean", format="%.4f"),
            "std": num("std", format="%.4f"),
            "min": num("min", format="%.4f"),
            "max": num("max", format="%.4f"),
            "expected_std": num("expected std", format="%.4f", help="From the scheme's formula and this tensor's shape."),
            "std_ratio": num("std / expected", format="%.3f", help="1.000 means the draw matches the formula."),
            "signal_gain": num("signal gain", format="%.3g", help="sqrt(fan_in · E[w²]): how much the layer scales "
                               "its input's RMS. 1 keeps it level; √2 makes up for a ReLU; 45 is the article's fc1."),
            "nonfinite": num("NaN/Inf", help="Entries that are NaN or ±Inf (not in mean/std/min/max)."),
        },
    )


def formula_ui(report: InitReport) -> None:
    st.subheader("The formula, with this layer's numbers")
    if not report.formulas:
        st.info("No rule reached any parameter: every tensor keeps its constructor values.")
        return
    name = st.selectbox("Parameter", list(report.formulas), key="formula_param")
    row = report.table.set_index("name").loc[name]
    scheme = pinit.SCHEMES[row["scheme"]]
    st.markdown(f"**{name}** {row['shape']}: `{scheme.name}`"
                + (f" (fan_in {row['fan_in']}, fan_out {row['fan_out']})" if row["fan_in"] is not None and str(row["fan_in"]) != "<NA>" else "")
                + (f" · {scheme.paper}" if scheme.paper else ""))
    st.latex(report.formulas[name])
    st.caption(f"Measured σ = {row['std']:.4g} on this draw.")


def main() -> None:
    init_state()
    header_ui()
    pending = sidebar_ui()
    if st.session_state.pop("reinit_requested", False) or "applied" not in st.session_state:
        problems = try_apply(pending)
        if problems:
            st.error("**Not re-initialized** — the weights below are the last good ones.\n\n"
                     + "\n".join(f"- {p}" for p in problems))
    applied = st.session_state.get("applied")
    if applied is None:
        st.stop()
    if pending != applied:
        st.info("The sidebar has changes not applied yet: press **Re-initialize** to see them.")
    results_ui(applied)


main()
