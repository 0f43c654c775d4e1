"""The sidebar: model, preset, one scheme per (layer type, slot), overrides, seed.

Widget keys: "model", "model.<option>", "preset", "<LayerType>.<slot>.scheme" and
"<LayerType>.<slot>.<param>", "overrides" (a list of parameter names) with
"override.<name>.scheme" / "override.<name>.<param>", "seed". `show_config` writes a
configuration into these keys (presets, links, plan files); `sidebar_ui` reads them
back into the configuration they describe.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

import pinit
from pinit.report import schemes_for

from .state import Config, config, parameter_shapes, request_reinit, slots_for

UNTOUCHED = "untouched"  # "no rule: keep the constructor's values"
CUSTOM = "(custom: see the rules below)"  # the preset box when a link or plan file matches no preset


def matching_preset(model: str, options: dict, plan: dict) -> str:
    """The preset whose plan, on this model, is `plan`; CUSTOM if none is."""
    slots = slots_for(model, options)

    def on_model(p: dict) -> dict:
        p = pinit.InitPlan.from_dict(p).to_dict()
        return {
            "rules": {
                lt: {s: r for s, r in rules.items() if s in slots.get(lt, {})}
                for lt, rules in p["rules"].items()
                if lt in slots
            },
            "overrides": p["overrides"],
        }

    target = on_model(plan)
    target["rules"] = {lt: r for lt, r in target["rules"].items() if r}
    for name, preset in pinit.PRESETS.items():
        candidate = on_model(preset.plan)
        candidate["rules"] = {lt: r for lt, r in candidate["rules"].items() if r}
        if candidate == target:
            return name
    return CUSTOM


def current_model() -> tuple[str, dict[str, Any]]:
    name = st.session_state.get("model", "SimpleCNN")
    spec = pinit.MODELS[name]
    for k, v in spec.options.items():
        st.session_state.setdefault(f"model.{k}", v)
    return name, {k: st.session_state[f"model.{k}"] for k in spec.options}


def _set_rule(prefix: str, rule: dict | None) -> None:
    if rule is None:
        st.session_state[f"{prefix}.scheme"] = UNTOUCHED
        return
    for key, value in pinit.Rule.from_dict(rule, prefix).to_dict().items():
        st.session_state[f"{prefix}.{key}"] = value


def show_config(cfg: Config) -> None:
    """Write a configuration into the sidebar's widgets (call before they are drawn)."""
    st.session_state["model"] = cfg["model"]
    for key, value in cfg.get("options", {}).items():
        st.session_state[f"model.{key}"] = value
    st.session_state["seed"] = int(cfg.get("seed", 0))
    plan = pinit.InitPlan.from_dict(cfg["plan"]).to_dict()
    for layer_type, slots in slots_for(cfg["model"], cfg.get("options", {})).items():
        for slot in slots:
            _set_rule(f"{layer_type}.{slot}", plan["rules"].get(layer_type, {}).get(slot))
    st.session_state["overrides"] = list(plan["overrides"])
    for name, rule in plan["overrides"].items():
        _set_rule(f"override.{name}", rule)
    # The preset box must not claim a preset the rules are not (e.g. after a restart
    # the state comes back from the link while the box would reset to its default).
    st.session_state["preset"] = matching_preset(cfg["model"], cfg.get("options", {}), plan)


def apply_preset() -> None:
    """Callback of the preset picker: every rule from the preset, then re-initialize."""
    if st.session_state["preset"] == CUSTOM:
        return
    name, options = current_model()
    preset = pinit.PRESETS[st.session_state["preset"]]
    show_config(config(name, options, preset.plan, st.session_state.get("seed", 0)))
    request_reinit()


def model_ui() -> tuple[str, dict[str, Any]]:
    st.selectbox(
        "Model",
        list(pinit.MODELS),
        key="model",
        format_func=lambda n: pinit.MODELS[n].label,
        on_change=request_reinit,
        help="Which network to re-initialize.",
    )
    name, _ = current_model()
    st.caption(pinit.MODELS[name].description)
    if name == "DeepMLP":
        st.slider("Depth (Linear layers)", 1, 100, key="model.depth", on_change=request_reinit)
        st.select_slider("Width", [16, 32, 64, 128, 256, 512, 1024], key="model.width", on_change=request_reinit)
        st.selectbox("Activation", list(pinit.models.ACTIVATIONS), key="model.activation", on_change=request_reinit)
    return current_model()


def _param_widget(prefix: str, param: pinit.Param) -> Any:
    """One widget per scheme parameter, bounded by the parameter's allowed range."""
    key = f"{prefix}.{param.name}"
    if param.kind == "choice":
        if st.session_state.get(key) not in param.choices:
            st.session_state[key] = param.default
        return st.selectbox(param.name, param.choices, key=key, help=param.help)
    if param.kind == "int":
        st.session_state[key] = int(min(max(st.session_state.get(key, param.default), param.low), param.high))
        return st.number_input(param.name, int(param.low), int(param.high), step=1, key=key, help=param.help)
    low = param.low if not param.low_open else param.low + 1e-6
    st.session_state[key] = min(max(float(st.session_state.get(key, param.default)), low), param.high)
    return st.number_input(
        param.name,
        float(low),
        float(param.high),
        step=0.01,
        format="%g",
        key=key,
        help=f"{param.help} Allowed: {param.allowed()}.",
    )


def rule_ui(prefix: str, label: str, shapes: list[tuple[int, ...]], allow_untouched: bool = True) -> dict | None:
    """Scheme picker for one slot, offering only schemes every tensor in the slot can take."""
    options = ([UNTOUCHED] if allow_untouched else []) + [s.name for s in schemes_for(shapes)]
    key = f"{prefix}.scheme"
    if st.session_state.get(key) not in options:
        st.session_state[key] = options[0]
    shape_text = ", ".join(str(tuple(s)) for s in shapes[:3]) + (" …" if len(shapes) > 3 else "")
    name = st.selectbox(
        label,
        options,
        key=key,
        help=f"Tensors: {shape_text}. 'untouched' keeps the constructor's values (PyTorch's default, "
        "drawn from the seed). Schemes these shapes can't take are not offered.",
    )
    if name == UNTOUCHED:
        return None
    scheme = pinit.SCHEMES[name]
    st.caption(scheme.summary.split(": ")[0].split(". ")[0].rstrip(".") + ".", help=scheme.summary)
    return {"scheme": name, **{p.name: _param_widget(prefix, p) for p in scheme.params}}


def rules_ui(slots: dict[str, dict[str, list]]) -> dict:
    rules: dict[str, dict] = {}
    for layer_type, layer_slots in slots.items():
        with st.expander(f"{layer_type} layers", expanded=True):
            for slot, shapes in layer_slots.items():
                rule = rule_ui(f"{layer_type}.{slot}", f"{layer_type} {slot}", shapes)
                if rule is not None:
                    rules.setdefault(layer_type, {})[slot] = rule
    return rules


def overrides_ui(shapes: dict[str, tuple[int, ...]]) -> dict:
    with st.expander("Override single parameters", expanded=bool(st.session_state.get("overrides"))):
        chosen = [n for n in st.session_state.get("overrides", []) if n in shapes]
        st.session_state["overrides"] = chosen
        names = st.multiselect(
            "Parameters",
            list(shapes),
            key="overrides",
            help="An override wins over the layer-type rule for that one tensor.",
        )
        out = {}
        for name in names:
            rule = rule_ui(f"override.{name}", f"Scheme for {name}", [shapes[name]], allow_untouched=False)
            out[name] = rule
        return out


def sidebar_ui() -> Config:
    """Draw the sidebar; return the configuration it describes (not yet applied)."""
    with st.sidebar:
        st.header("Initialization")
        model_name, options = model_ui()
        presets = list(pinit.PRESETS) + ([CUSTOM] if st.session_state.get("preset") == CUSTOM else [])
        st.selectbox(
            "Preset",
            presets,
            key="preset",
            on_change=apply_preset,
            help="Sets every rule below in one click and re-initializes.",
        )
        if st.session_state["preset"] in pinit.PRESETS:
            st.caption(pinit.PRESETS[st.session_state["preset"]].lesson)
        rules = rules_ui(slots_for(model_name, options))
        overrides = overrides_ui(parameter_shapes(model_name, options))
        seed = st.number_input(
            "Seed", 0, 2**31 - 1, step=1, key="seed", help="Same model, plan and seed give bit-identical weights."
        )
        st.button("Re-initialize", type="primary", on_click=request_reinit, use_container_width=True)
    return config(model_name, options, {"rules": rules, "overrides": overrides}, seed)
