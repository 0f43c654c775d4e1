"""The sidebar: model, preset, seed, and one scheme per (layer type, slot), applied on every change.

Widget keys: "model", "model.<option>", "preset", "seed", "<LayerType>.<slot>.scheme" and
"<LayerType>.<slot>.<param>", "overrides" (a list of parameter names) with
"override.<name>.scheme" / "override.<name>.<param>". `show_setup` writes a Setup into
these keys (presets, links, plan files); `described_setup` reads them back.

Every widget applies its change at once (there is no Re-initialize button): its callback
reads the sidebar into a Setup, applies it if it fits the model (else the last good
weights stay and the page says why), puts the preset box in step ("(custom)" the moment
the rules differ from every preset) and reruns only the sidebar and the open view
(`st.rerun` with fragment keys), not the whole page.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

import pinit
from pinit import registry, serve
from pinit.models import ModelSpec
from pinit.plan import MAX_SEED, InitPlan
from pinit.report import layer_slots, meta_model, parameter_shapes, schemes_for
from pinit.setup import Setup
from pinit.text import math_text

from . import state
from .common import escape

UNTOUCHED = "untouched"  # "no rule: keep the constructor's values"
CUSTOM = "(custom)"  # the preset box when the rules match no preset
DEFAULT_PRESET = "PyTorch default"
AS_BUILT = "As built"  # the empty plan: the constructor's own draw, the default for a user's model
# Rule widgets keep their values while hidden ("Show the rules" off, another model picked):
# they are where the plan is written, so a hidden widget must not lose its rule.
KEEP: Final = "page"  # Final: typed as the literal that persist_state takes


# --- the server owner's own models (--model on the command line) -----------------------------

_COMMAND_LINE: dict[tuple[str, ...], list[str]] = {}  # argv -> why it could not be loaded ([]: loaded)


def use_command_line(argv: Sequence[str], script: str | None = None) -> None:
    """Load the models named after ``--`` (`streamlit run app.py -- --model mynets:make_net`).

    `argv` is sys.argv. Its arguments are the page's only when Streamlit ran `script` with
    them (argv[0] is the script's path): under a test runner sys.argv is the runner's own.
    Loaded once per server process (the page runs this on every run of every session);
    what went wrong is kept and shown in the sidebar (`command_line_problems`).
    """
    argv = list(argv)
    if script is not None and (not argv or Path(argv[0]).resolve() != Path(script).resolve()):
        return
    key = tuple(argv[1:])
    if key in _COMMAND_LINE:
        return
    try:
        registry.load_command_line(serve.page_args(argv[1:]))
        _COMMAND_LINE[key] = []
    except ValueError as e:
        _COMMAND_LINE[key] = [f"--model: {e}"]


def command_line_problems() -> list[str]:
    return [p for problems in _COMMAND_LINE.values() for p in problems]


def default_setup() -> Setup:
    """What a new tab opens on: the first model from the command line as built, else SimpleCNN under
    PyTorch's default."""
    own = registry.command_line_models()
    if own:
        return Setup(model=own[0], plan=InitPlan.from_dict(pinit.PRESETS[AS_BUILT].plan))
    return Setup(plan=InitPlan.from_dict(pinit.PRESETS[DEFAULT_PRESET].plan))


def model_choices() -> list[str]:
    """The model box's entries: the command line's models first (in its order), then the rest."""
    own = registry.command_line_models()
    return own + [name for name in pinit.MODELS if name not in own]


# --- reading and writing the widgets ---------------------------------------------------------


def current_model() -> tuple[str, dict[str, Any]]:
    name = st.session_state.get("model")
    if name not in pinit.MODELS:
        name = default_setup().model
    spec = pinit.MODELS[name]
    for k, v in spec.options.items():
        st.session_state.setdefault(f"model.{k}", v)
    return name, {k: st.session_state[f"model.{k}"] for k in spec.options}


def _rule_from_widgets(prefix: str) -> dict[str, Any] | None:
    name = st.session_state.get(f"{prefix}.scheme", UNTOUCHED)
    if name == UNTOUCHED or name not in pinit.SCHEMES:
        return None
    scheme = pinit.SCHEMES[name]
    return {"scheme": name, **{p.name: st.session_state.get(f"{prefix}.{p.name}", p.default) for p in scheme.params}}


def _seed_from_widget() -> int | None:
    text = str(st.session_state.get("seed", "0")).strip().replace(",", "").replace("_", "")
    if not text.isascii() or not text.isdigit() or int(text) > MAX_SEED:
        return None
    return int(text)


def described_setup() -> Setup:
    """The Setup the sidebar's widgets describe (not yet checked against the model's shapes)."""
    model, options = current_model()
    rules: dict[str, dict[str, Any]] = {}
    for layer_type, slots in layer_slots(model, options).items():
        for slot in slots:
            rule = _rule_from_widgets(f"{layer_type}.{slot}")
            if rule is not None:
                rules.setdefault(layer_type, {})[slot] = rule
    shapes = parameter_shapes(model, options)
    overrides = {}
    for name in st.session_state.get("overrides", []):
        rule = _rule_from_widgets(f"override.{name}")
        if name in shapes and rule is not None:
            overrides[name] = rule
    seed = _seed_from_widget()
    applied = state.applied()
    if seed is None:
        seed = applied.seed if applied is not None else 0
    return Setup(model, options, InitPlan.from_dict({"rules": rules, "overrides": overrides}), seed)


def _set_rule(prefix: str, rule: Any) -> None:
    if rule is None:
        st.session_state[f"{prefix}.scheme"] = UNTOUCHED
        return
    for key, value in rule.to_dict().items():
        st.session_state[f"{prefix}.{key}"] = value


def on_model(setup: Setup) -> dict[str, Any]:
    """The plan as the sidebar can show it: only the rules for layer types and slots the model has."""
    slots = layer_slots(setup.model, setup.options)
    d = setup.plan_dict
    rules = {lt: {s: r for s, r in rs.items() if s in slots.get(lt, {})} for lt, rs in d["rules"].items()}
    return {"rules": {lt: rs for lt, rs in rules.items() if rs}, "overrides": d["overrides"]}


def preset_setup(name: str, base: Setup) -> Setup:
    """`base` with preset `name`'s rules (restricted to the model's layer types) and no overrides."""
    return base.replace(plan=on_model(base.replace(plan=pinit.PRESETS[name].plan)))


def matching_preset(setup: Setup) -> str:
    """The preset whose rules, on this model, are the setup's plan; CUSTOM if none is."""
    target = on_model(setup)
    if not target["rules"] and not target["overrides"] and AS_BUILT in pinit.PRESETS:
        return AS_BUILT  # nothing re-drawn is "as built", even where another preset has no rule for this model
    for name in pinit.PRESETS:
        if on_model(preset_setup(name, setup)) == target:
            return name
    return CUSTOM


def show_setup(setup: Setup) -> None:
    """Write a Setup into the sidebar's widgets (in a callback, or before they are drawn)."""
    st.session_state["model"] = setup.model
    for key, value in setup.options.items():
        st.session_state[f"model.{key}"] = value
    st.session_state["seed"] = str(setup.seed)
    plan = setup.plan
    for layer_type, slots in layer_slots(setup.model, setup.options).items():
        for slot in slots:
            _set_rule(f"{layer_type}.{slot}", plan.rules.get(layer_type, {}).get(slot))
    st.session_state["overrides"] = list(plan.overrides)
    for name, rule in plan.overrides.items():
        _set_rule(f"override.{name}", rule)
    st.session_state["preset"] = matching_preset(setup)


def load(setup: Setup) -> list[str]:
    """Show `setup` in the sidebar and apply it (a link, a plan file, a lesson's hand-over)."""
    show_setup(setup)
    return state.try_apply(setup)


# --- callbacks: apply, then rerun only what changed --------------------------------------------


PHONE_SETTINGS = "phone_settings"  # the expander that holds the settings on a phone


def is_phone() -> bool:
    """A phone's browser (its user agent says Mobile/Android/iPhone): the settings go in an expander
    at the top of the page instead of a sidebar that would cover the page."""
    agent = st.context.headers.get("User-Agent") or ""
    return any(word in agent for word in ("Mobi", "Android", "iPhone"))


CONTROLS, RULES = "sidebar.controls", "sidebar.rules"  # the sidebar's two parts, each a fragment


def rerun_after(*parts: str) -> None:
    """Rerun the open view and the given parts of the sidebar (CONTROLS, RULES), not the whole page.

    Every part sent again is one the browser must draw again: a seed typed in the sidebar needs
    only the view; a preset needs the rules too. On a phone the settings fold away after a
    choice, which needs the whole settings panel (state.SIDEBAR, the two parts' parent)."""
    if is_phone():
        st.session_state[PHONE_SETTINGS] = False
        st.rerun([state.SIDEBAR, state.VIEW])
    st.rerun([*parts, state.VIEW])


def rerun_sidebar_and_view() -> None:
    """After a change the whole sidebar must show (a preset, a model, a loaded plan file)."""
    rerun_after(CONTROLS, RULES)


def _apply_widgets() -> None:
    try:
        setup = described_setup()
    except (pinit.PlanError, ValueError) as e:  # a rule whose own parameters disagree (uniform's a >= b)
        st.session_state[state.REFUSED] = getattr(e, "problems", None) or [str(e)]
        st.session_state["preset"] = CUSTOM
        return
    if _seed_from_widget() is None:
        st.session_state[state.REFUSED] = [
            f"seed {str(st.session_state.get('seed'))[:40]!r} is not a whole number from 0 to {MAX_SEED:,}; "
            f"the weights still use seed {setup.seed}"
        ]
    else:
        state.try_apply(setup)
    st.session_state["preset"] = matching_preset(setup)


def changed(part: str = RULES) -> None:
    """Callback of every rule, parameter and override widget: the widgets of `part` may change (a new
    scheme has other parameters: the slot's own fragment, see rule_ui), and the preset box if the
    rules now match another preset."""
    before = st.session_state.get("preset")
    _apply_widgets()
    rerun_after(part, *((CONTROLS,) if st.session_state.get("preset") != before else ()))


def seed_typed() -> None:
    """Callback of the seed box: the box already shows what was typed, so only the view reruns."""
    _apply_widgets()
    rerun_after()


def preset_picked() -> None:
    """A preset sets every rule. The box already shows it; the rules (if shown) and the view rerun, and
    the box itself only to drop its "(custom)" entry."""
    name = st.session_state["preset"]
    was_custom = st.session_state.get("_preset_options_custom", False)
    if name in pinit.PRESETS:
        load(preset_setup(name, described_setup()))
    parts = ((RULES,) if st.session_state.get("show_rules") else ()) + ((CONTROLS,) if was_custom else ())
    rerun_after(*parts)


def model_picked() -> None:
    """A new model keeps the preset (its rules for the new model's layer types) and the seed."""
    preset = st.session_state.get("preset", DEFAULT_PRESET)
    base = described_setup()
    load(preset_setup(preset, base) if preset in pinit.PRESETS else base)
    rerun_sidebar_and_view()


def new_draw() -> None:
    """Roll the dice again: a fresh random seed, same model and plan (the seed box shows it)."""
    seed = str(secrets.randbelow(1_000_000))
    st.session_state["seed"] = seed
    # st.rerun in this callback interrupts the run that would have told the browser the box's new
    # value (streamlit marks a value set in a callback as sent once, in that run): set it again in
    # the run the rerun starts, before the box is drawn, or the box keeps the old seed and the next
    # change sends it back.
    st.session_state[SEED_TO_SHOW] = seed
    _apply_widgets()
    rerun_after(CONTROLS)


# --- widgets ---------------------------------------------------------------------------------


def model_ui() -> None:
    st.selectbox(
        "Model",
        model_choices(),
        key="model",
        format_func=lambda n: pinit.MODELS[n].label,
        on_change=model_picked,
        help="Which network to re-initialize.",
    )
    name, _ = current_model()
    spec = pinit.MODELS[name]
    st.caption(spec.description)
    for option in spec.options:
        option_widget(spec, option)


SLIDER_SPAN: Final = 200  # a whole-number range this wide or narrower is a slider; a wider one a number box


def option_widget(spec: ModelSpec, option: str) -> None:
    """The widget of one of a model's options, drawn from its ModelSpec: a whole number with a declared
    (low, high) a slider (a number box when the range is wide), declared choices a select box, a bool
    a checkbox, any other number a number box and a string a text box. Key ``model.<option>``."""
    key, label = f"model.{option}", option.replace("_", " ").capitalize()
    default = spec.options[option]
    if option in spec.option_ranges:
        low, high = spec.option_ranges[option]
        if high - low <= SLIDER_SPAN:
            st.slider(label, low, high, key=key, on_change=option_changed)
        else:
            st.number_input(label, low, high, step=1, key=key, on_change=option_changed)
    elif option in spec.option_choices:
        st.selectbox(label, list(spec.option_choices[option]), key=key, on_change=option_changed)
    elif isinstance(default, bool):
        st.checkbox(label, key=key, on_change=option_changed)
    elif isinstance(default, (int, float)):
        step = 1 if isinstance(default, int) else None
        st.number_input(label, step=step, key=key, on_change=option_changed)
    else:
        st.text_input(label, key=key, on_change=option_changed)


def option_changed() -> None:
    """Callback of a model option's widget: rebuild with the new options, or, if the model refuses
    them (say d_model not divisible by n_head), say why in words and put the options back."""
    name, options = current_model()
    try:
        parameter_shapes(name, options)
    except (ValueError, TypeError, RuntimeError) as e:
        applied = state.applied()
        before = applied.options if applied is not None and applied.model == name else pinit.MODELS[name].options
        for k, v in before.items():
            st.session_state[f"model.{k}"] = v
        st.session_state[state.REFUSED] = [f"{name} cannot be built with {options}: {e}"]
        rerun_sidebar_and_view()
        return
    model_picked()


def _param_label(scheme: pinit.Scheme, param: pinit.Param) -> str:
    """A parameter's label that says what it is: kaiming's `a` is a slope, uniform's `a` a bound."""
    short = param.help.split(" (")[0].split(";")[0].rstrip(".")
    return f"{param.name}: {short[:1].lower()}{short[1:]}" if len(short) <= 60 else param.name


def _param_widget(prefix: str, scheme: pinit.Scheme, param: pinit.Param) -> None:
    """One widget per scheme parameter, bounded by the parameter's allowed range."""
    key = f"{prefix}.{param.name}"
    label = _param_label(scheme, param)
    if param.kind == "choice":
        if st.session_state.get(key) not in param.choices:
            st.session_state[key] = param.default
        st.selectbox(
            label,
            param.choices,
            key=key,
            help=param.help,
            on_change=changed,
            args=(f"rule.{prefix}",),
            persist_state=KEEP,
        )
        return
    if param.kind == "int":
        st.session_state[key] = int(min(max(st.session_state.get(key, param.default), param.low), param.high))
        st.number_input(
            label,
            int(param.low),
            int(param.high),
            step=1,
            key=key,
            help=param.help,
            on_change=changed,
            args=(f"rule.{prefix}",),
            persist_state=KEEP,
        )
        return
    low = param.low if not param.low_open else param.low + 1e-6
    st.session_state[key] = min(max(float(st.session_state.get(key, param.default)), low), param.high)
    st.number_input(
        label,
        float(low),
        float(param.high),
        step=0.01,
        format="%g",
        key=key,
        help=f"{param.help} Allowed: {param.allowed()}.",
        on_change=changed,
        args=(f"rule.{prefix}",),
        persist_state=KEEP,
    )


def rule_ui(prefix: str, label: str, shapes: list[tuple[int, ...]], allow_untouched: bool = True) -> None:
    """Scheme picker for one slot, offering only schemes every tensor in the slot can take.

    Each slot is a fragment of its own (key "rule.<prefix>"): a change of its scheme or of one of
    its parameters redraws that slot's widgets and the view, not every slot's (each widget sent
    again is one the browser draws again)."""
    st.fragment(_rule_widgets, key=f"rule.{prefix}")(prefix, label, shapes, allow_untouched)


def _rule_widgets(prefix: str, label: str, shapes: list[tuple[int, ...]], allow_untouched: bool) -> None:
    options = ([UNTOUCHED] if allow_untouched else []) + [s.name for s in schemes_for(shapes)]
    key = f"{prefix}.scheme"
    if st.session_state.get(key) not in options:
        st.session_state[key] = options[0]
    shape_text = ", ".join(str(tuple(s)) for s in shapes[:3]) + (" …" if len(shapes) > 3 else "")
    name = st.selectbox(
        label,
        options,
        key=key,
        on_change=changed,
        args=(f"rule.{prefix}",),
        persist_state=KEEP,
        help=f"Tensors: {shape_text}. 'untouched' keeps the constructor's values (PyTorch's default, drawn from "
        "the seed). Schemes these shapes can't take are not offered.",
    )
    if name == UNTOUCHED:
        return
    scheme = pinit.SCHEMES[name]
    st.caption(scheme.summary.split(": ")[0].split(". ")[0].rstrip(".") + ".", help=scheme.summary)
    for p in scheme.params:
        _param_widget(prefix, scheme, p)


def rules_ui(model: str, options: dict[str, Any]) -> None:
    for layer_type, slots in layer_slots(model, options).items():
        st.markdown(f"**{layer_type} layers**")
        for slot, shapes in slots.items():
            rule_ui(f"{layer_type}.{slot}", f"{layer_type} {slot}", shapes)


def overrides_ui(shapes: dict[str, tuple[int, ...]]) -> None:
    chosen = [n for n in st.session_state.get("overrides", []) if n in shapes]
    st.session_state["overrides"] = chosen
    names = st.multiselect(
        "Override single parameters",
        list(shapes),
        key="overrides",
        on_change=changed,
        persist_state=KEEP,
        help="An override wins over the layer-type rule for that one tensor.",
    )
    for name in names:
        rule_ui(f"override.{name}", f"Scheme for {name}", [shapes[name]], allow_untouched=False)


SEED_TO_SHOW = "_seed_to_show"  # New draw's seed, written into the box in the next run


def seed_ui() -> None:
    if SEED_TO_SHOW in st.session_state:
        st.session_state["seed"] = st.session_state.pop(SEED_TO_SHOW)
    c1, c2 = st.columns([1, 1], vertical_alignment="bottom")
    c1.text_input(
        "Seed",
        key="seed",
        on_change=seed_typed,
        help=f"Same model, plan and seed give bit-identical weights. A whole number from 0 to {MAX_SEED:,}.",
    )
    c2.button("New draw", on_click=new_draw, icon=":material/casino:", help="Roll the dice again: a new random seed.")


@st.fragment(key=CONTROLS)
def controls_ui() -> None:
    # "Settings" on a phone (the expander's label) and on a desktop alike: the page's words say
    # "Settings", true on both, never "the sidebar", which a phone does not have.
    heading = "" if is_phone() else "**Settings** · "
    st.markdown(heading + "**pinit**: what does weight initialization do? Every change here redraws the page at once.")
    model_ui()
    custom = st.session_state.get("preset") == CUSTOM
    st.session_state["_preset_options_custom"] = custom  # whether the box lists "(custom)" right now
    presets = list(pinit.PRESETS) + ([CUSTOM] if custom else [])
    st.selectbox(
        "Preset",
        presets,
        key="preset",
        on_change=preset_picked,
        help="Sets every rule below in one click. '(custom)': the rules below match no preset.",
    )
    seed_ui()
    st.toggle(
        "Presenter mode",
        key="present",
        on_change=presenter_toggled,
        help="For a projector: bigger chart text, Settings folded away, a QR code of this page.",
    )
    # Off by default: every widget sent is one the browser draws again after each click, and the
    # presets, the seed and the lesson need none of the rules' widgets.
    st.toggle("Show the rules per layer type", key="show_rules", value=False, on_change=lambda: st.rerun([RULES]))


@st.fragment(key=RULES)
def rules_panel() -> None:
    if not st.session_state.get("show_rules", False):
        return
    if state.open_tab() == "Lesson":
        st.caption("The rules per layer type are here when you leave the Lesson for a free-play tab.")
        return
    model, options = current_model()
    rules_ui(model, options)
    overrides_ui(parameter_shapes(model, options))


@st.fragment(key=state.SIDEBAR)
def sidebar_ui() -> None:
    """Draw the sidebar (on a phone: a folding panel above the page). Its widgets apply their changes
    themselves (see the callbacks): its two parts, CONTROLS and RULES, rerun on their own."""
    host: DeltaGenerator
    if is_phone():
        host = st.expander("Settings: model, preset, seed, rules", key=PHONE_SETTINGS, on_change="rerun")
    else:
        host = st.sidebar
    with host:
        for problem in command_line_problems():
            st.error(f"Your model could not be loaded: {escape(problem)}")
        controls_ui()
        rules_panel()


def preset_caption(name: str) -> str:
    """What the preset teaches; on a model other than the article's (whose fc1 the lessons quote),
    followed by what the preset's own rule does to that model's first layer (`first_layer_note`)."""
    if name not in pinit.PRESETS:
        return "Your own rules in Settings: they match no preset."
    model, options = current_model()
    text = pinit.PRESETS[name].lesson
    if model not in ("SimpleCNN", "ArticleSimpleCNN"):
        note = first_layer_note(model, options, pinit.PRESETS[name].plan)
        text = f"{text} {note}" if note else text
    return math_text(text)


def first_layer_note(model: str, options: dict[str, Any], plan: Any) -> str:
    """The std factor of a zero-mean normal rule on the model's first 2-D weight, read from the plan:
    E[y²] = fan_in · σ² · E[x²] (LeCun et al. 1998), so the signal's std is multiplied by about
    σ·√fan_in. Empty when the plan puts no such rule there."""
    try:
        reached = pinit.assignments(meta_model(model, options), plan)
    except (pinit.PlanError, ValueError):
        return ""
    first = next((a for a in reached if a.param.dim() == 2), None)
    if first is None or first.rule is None or first.rule.scheme != "normal" or first.rule.params.get("mean"):
        return ""
    std, fan_in = float(first.rule.params["std"]), first.info.fan_in
    if not fan_in:
        return ""
    factor = f"√{fan_in}" if std == 1 else f"{std:g}·√{fan_in}"
    return (
        f"On {model}'s first layer ({first.name}, fan_in {fan_in}), N(0, {std:g}) multiplies the signal's std "
        f"by about {factor} = {std * fan_in**0.5:.3g}."
    )


def presenter_toggled() -> None:
    """Presenter mode changes the whole page (sidebar, chart text): a full rerun, and the link says so."""
    if st.session_state.get("present"):
        st.query_params["present"] = "1"
    elif "present" in st.query_params:
        del st.query_params["present"]
    st.rerun()
