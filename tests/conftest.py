"""Shared test helpers: an independent reference implementation of the network equations.

Nothing here calls gradviz's numerics: the reference forward pass, costs and derivatives are
written from the equations in the docstrings of gradviz/engine/layers.py and costs.py, so comparing
against them checks gradviz rather than restating it. Derivatives come from the complex-step method
(f'(x) = Im f(x + ih) / h, h = 1e-20), which has no subtractive cancellation and is accurate
to rounding, independently of gradviz's backprop.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np

COMPLEX_STEP = 1e-20


# --- activations, written independently of gradviz.engine.activations ---------------------------


def ref_sigmoid(z):
    """σ(z) = ½(1 + tanh(z/2)) — a different formula from gradviz's; analytic, so complex-step safe."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def ref_relu(z):
    """max(z, 0), analytic off z = 0 (the real part decides the branch)."""
    return np.where(np.real(z) > 0, z, 0.0 * z)


REF_ACTIVATIONS = {"sigmoid": ref_sigmoid, "tanh": np.tanh, "relu": ref_relu}


def softplus(t: float) -> float:
    """ln(1 + e^t), stable for any float t."""
    return max(t, 0.0) + math.log1p(math.exp(-abs(t)))


def ln_sigmoid_prime_ref(z: float) -> float:
    """ln σ'(z) = ln σ(z) + ln σ(−z) = −softplus(−z) − softplus(z) (not gradviz's formula)."""
    return -softplus(-z) - softplus(z)


def decimal_sigmoid_prime(z, prec: int = 60) -> Decimal:
    """σ'(z) = e^z / (1 + e^z)² in high-precision decimal arithmetic."""
    with localcontext() as ctx:
        ctx.prec = prec
        e = Decimal(z).exp()
        return e / (1 + e) ** 2


def decimal_log10(value: Decimal, prec: int = 60) -> float:
    with localcontext() as ctx:
        ctx.prec = prec
        return float(value.log10())


# --- the network as a list of per-step layers ----------------------------------------------


def steps_of(net) -> list[dict]:
    """One dict per applied layer (an unrolled network repeats its single layer T times)."""
    names = (net.activation,) * len(net.weights) if isinstance(net.activation, str) else tuple(net.activation)
    stored = []
    for w, b, act, gate in zip(net.weights, net.biases, names, net.gates):
        params = {"w": np.array(w), "b": np.array(b)}
        if gate is not None:
            params.update(wf=np.array(gate.wf), bf=np.array(gate.bf), wi=np.array(gate.wi), bi=np.array(gate.bi))
        stored.append((act, params))
    if net.unroll is not None:
        return [{"act": stored[0][0], "params": stored[0][1]} for _ in range(net.unroll)]
    return [{"act": act, "params": params} for act, params in stored]


def ref_forward(steps: list[dict], x, inject: dict | None = None) -> list[dict]:
    """The forward pass on a stack of P variants at once.

    Every parameter array has a leading axis P (one network variant per entry); x is (B, n_0).
    Returns per layer {"z", "a"} (+ "zf", "f", "zi", "i" on gated layers), each (P, B, n).
    inject: {l: array broadcastable to (P, B, n_l)} added to a_l (l = 0 is the input).
    """
    inject = inject or {}
    P = steps[0]["params"]["w"].shape[0]
    a = np.broadcast_to(np.asarray(x), (P,) + np.shape(x))
    if 0 in inject:
        a = a + inject[0]
    trace = []
    for l, step in enumerate(steps, start=1):
        p = step["params"]
        z = np.einsum("pbi,poi->pbo", a, p["w"]) + p["b"][:, None, :]
        g = REF_ACTIVATIONS[step["act"]](z)
        layer = {"z": z}
        if "wf" in p:
            zf = np.einsum("pbi,poi->pbo", a, p["wf"]) + p["bf"][:, None, :]
            zi = np.einsum("pbi,poi->pbo", a, p["wi"]) + p["bi"][:, None, :]
            f, i = ref_sigmoid(zf), ref_sigmoid(zi)
            new_a = f * a + i * g
            layer.update(zf=zf, f=f, zi=zi, i=i, g=g)
        else:
            new_a = g
        if l in inject:
            new_a = new_a + inject[l]
        layer["a"] = new_a
        trace.append(layer)
        a = new_a
    return trace


def ref_cost_rows(a_L, y, cost: str):
    """Per-row cost, (P, B): quadratic ½Σ(a − y)², cross-entropy −Σ[y ln a + (1 − y) ln(1 − a)]."""
    if cost == "quadratic":
        d = a_L - y
        return 0.5 * np.sum(d * d, axis=-1)
    return -np.sum(y * np.log(a_L) + (1.0 - y) * np.log(1.0 - a_L), axis=-1)


def lift(steps: list[dict], P: int, dtype=float) -> list[dict]:
    """The steps with every parameter repeated along a new leading axis of length P."""
    return [{"act": s["act"], "params": {k: np.repeat(v[None].astype(dtype), P, axis=0) for k, v in s["params"].items()}}
            for s in steps]


def ref_cost(net, x, y, cost: str) -> float:
    """C = mean over rows, in plain float64, from the reference forward pass."""
    trace = ref_forward(lift(steps_of(net), 1), np.asarray(x, dtype=float))
    return float(np.mean(ref_cost_rows(trace[-1]["a"], np.asarray(y, dtype=float), cost)[0]))


def complex_step_step_grads(steps: list[dict], x, y, cost: str) -> list[dict]:
    """∂C/∂(each step's own copy of each parameter), C the mean cost: one dict per step.

    For an unrolled network the steps hold separate copies, so these are the per-step shares.
    """
    entries = [(t, name, idx) for t, s in enumerate(steps) for name, v in s["params"].items() for idx in np.ndindex(v.shape)]
    P = len(entries)
    lifted = lift(steps, P, complex)
    for p, (t, name, idx) in enumerate(entries):
        lifted[t]["params"][name][(p,) + idx] += 1j * COMPLEX_STEP
    trace = ref_forward(lifted, np.asarray(x, dtype=complex))
    costs = np.mean(ref_cost_rows(trace[-1]["a"], y, cost), axis=1)  # (P,)
    derivs = costs.imag / COMPLEX_STEP
    grads = [{name: np.zeros(v.shape) for name, v in s["params"].items()} for s in steps]
    for p, (t, name, idx) in enumerate(entries):
        grads[t][name][idx] = derivs[p]
    return grads


def complex_step_activation_grads(steps: list[dict], x, y, cost: str) -> list[np.ndarray]:
    """∂C/∂a_l as (B, n_l) arrays for l = 0..L (C the mean cost over the B rows)."""
    x = np.asarray(x, dtype=float)
    B = x.shape[0]
    widths = [x.shape[1]] + [s["params"]["w"].shape[0] for s in steps]
    out = []
    for l, n in enumerate(widths):
        # Variant j perturbs unit j of a_l in every row; rows do not interact, so each row's own
        # cost carries that row's derivative.
        bump = np.zeros((n, 1, n), dtype=complex)
        bump[np.arange(n), 0, np.arange(n)] = 1j * COMPLEX_STEP
        trace = ref_forward(lift(steps, n, complex), x.astype(complex), inject={l: bump})
        rows = ref_cost_rows(trace[-1]["a"], y, cost)  # (n, B)
        out.append((rows.imag / COMPLEX_STEP / B).T)  # (B, n)
    return out


def tie(step_grads: list[dict], net) -> list[np.ndarray]:
    """The gradients in the order of net.parameters(): summed over the steps of an unrolled net."""
    if net.unroll is not None:
        summed = {name: sum(g[name] for g in step_grads) for name in step_grads[0]}
        step_grads = [summed]
    order = ("w", "b", "wf", "bf", "wi", "bi")
    return [g[name] for g in step_grads for name in order if name in g]


def central_difference(net, x, y, cost: str, h: float = 1e-6) -> list[np.ndarray]:
    """(C(θ + h e_k) − C(θ − h e_k)) / 2h for every entry of every array of net.parameters().

    All 2N perturbed networks run as one stacked reference forward pass; a shared (unrolled)
    parameter is moved in every step that uses it.
    """
    params = [np.array(p, dtype=float) for p in net.parameters()]
    names = [name for name, _ in net.named_parameters()]
    stored_layer = np.cumsum([name == "w" for name in names]) - 1  # which stored layer each array belongs to
    steps = steps_of(net)
    layer_of_step = [0] * len(steps) if net.unroll is not None else list(range(len(steps)))
    entries = [(k, idx) for k, p in enumerate(params) for idx in np.ndindex(p.shape)]
    lifted = lift(steps, 2 * len(entries))
    taken = np.empty(len(entries))
    for e, (k, idx) in enumerate(entries):
        plus, minus = params[k][idx] + h, params[k][idx] - h
        taken[e] = plus - minus  # the step actually taken
        for t, step in enumerate(lifted):
            if layer_of_step[t] == stored_layer[k]:
                step["params"][names[k]][(2 * e,) + idx] = plus
                step["params"][names[k]][(2 * e + 1,) + idx] = minus
    trace = ref_forward(lifted, np.asarray(x, dtype=float))
    costs = np.mean(ref_cost_rows(trace[-1]["a"], np.asarray(y, dtype=float), cost), axis=1)
    derivs = (costs[0::2] - costs[1::2]) / taken
    grads = [np.zeros(p.shape) for p in params]
    for e, (k, idx) in enumerate(entries):
        grads[k][idx] = derivs[e]
    return grads


def central_difference_one(net, x, y, cost: str, k: int, idx: tuple, h: float = 1e-6) -> float:
    """The same quotient for one entry, moving it through net.parameters() / net.with_parameters()."""
    params = [np.array(p) for p in net.parameters()]
    values, points = [], []
    for sign in (1.0, -1.0):
        moved = [p.copy() for p in params]
        moved[k][idx] += sign * h
        points.append(moved[k][idx])
        values.append(ref_cost(net.with_parameters(moved), x, y, cost))
    return (values[0] - values[1]) / (points[0] - points[1])


def screen_texts(at) -> list[tuple[str, str]]:
    """(where, text) for every piece of text on an AppTest page, chart tooltips included."""
    from streamlit import dataframe_util

    texts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "latex", "warning", "info", "error",
                 "success", "exception"):
        texts += [(kind, str(element.value)) for element in at.get(kind)]
    for metric in at.metric:
        texts += [("metric label", metric.label), ("metric", str(metric.value))]
    texts += [("expander", expander.label) for expander in at.expander]
    for chart in at.get("vega_lite_chart"):
        for dataset in chart.proto.datasets:
            frame = dataframe_util.convert_arrow_bytes_to_pandas_df(dataset.data.data)
            for column in frame.columns:
                if frame[column].dtype == object or str(frame[column].dtype) == "str":  # pandas 3: StringDtype
                    texts += [(f"chart column {column}", str(v)) for v in frame[column]]
    return texts


# --- exact arithmetic on mantissa · 2^exponent ---------------------------------------------------------


def exact(mantissa, exponent=0):
    """mantissa · 2^exponent as an exact Fraction (any exponent, no overflow)."""
    from fractions import Fraction

    return Fraction(float(mantissa)) * Fraction(2) ** int(exponent)


def float_product_without_range(factors) -> tuple[float, int]:
    """Π factors, each multiplication rounded as float64 rounds it, with an exponent that never overflows:
    (m, e) with the product m · 2^e, m in [0.5, 1). Rounding a product depends on the significands only, so
    this is the plain float product taken left to right, wherever float64's range would have held it."""
    m, e = 1.0, 0
    for f in factors:
        m, k = math.frexp(m * f)
        e += k
    return m, e


# --- a plain numpy backprop, the floor the engine must match bit for bit ------------------------------------


def plain_backprop(weights, biases, x, y, cost):
    """Backprop for an all-sigmoid network in plain numpy, from the formulas of the engine's docstrings:
    z = a Wᵀ + b, σ(z) = 1/(1 + e^-z), σ'(z) = 1/(4 cosh²(z/2)), a_L − y = (1 − y)σ(z_L) − yσ(−z_L);
    δ_L = a_L − y (cross-entropy) or (a_L − y) σ'(z_L) (quadratic); δ_{l−1} = (δ_l W_l) σ'(z_{l−1});
    ∂C/∂W_l = δ_lᵀ a_{l−1} / rows, ∂C/∂b_l = Σ_rows δ_l / rows."""
    sigmoid = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    slope = lambda z: 0.25 / np.cosh(0.5 * z) ** 2  # noqa: E731
    a, zs = [x], []
    for w, b in zip(weights, biases):
        zs.append(a[-1] @ w.T + b)
        a.append(sigmoid(zs[-1]))
    delta = (1.0 - y) * a[-1] - y * sigmoid(-zs[-1])
    if cost == "quadratic":
        delta = delta * slope(zs[-1])
    rows = len(x)
    nabla_w, nabla_b = [None] * len(weights), [None] * len(weights)
    for l in reversed(range(len(weights))):
        nabla_w[l] = delta.T @ a[l] / rows
        nabla_b[l] = delta.sum(axis=0) / rows
        if l > 0:
            delta = (delta @ weights[l]) * slope(zs[l - 1])
    return nabla_w, nabla_b


# --- the page under AppTest: widgets and charts ----------------------------------------------------------------

WIDGET_KINDS = ("button_group", "toggle", "checkbox", "slider", "select_slider", "number_input", "radio", "selectbox",
                "multiselect", "text_input", "text_area", "button", "download_button", "file_uploader")


def widget_texts(at) -> list[tuple[str, str]]:
    """(where, text) for every widget's label, help and options on an AppTest page, the sidebar's included."""
    texts = []
    for kind in WIDGET_KINDS:
        try:
            widgets = at.get(kind)
        except Exception:  # a kind this Streamlit's AppTest does not name
            continue
        for widget in widgets:
            proto = getattr(widget, "proto", None)
            for attr in ("label", "help"):
                value = getattr(widget, attr, None) or getattr(proto, attr, None)
                if value:
                    texts.append((f"{kind} {attr}", str(value)))
            texts += [(f"{kind} option", str(option)) for option in (getattr(widget, "options", None) or ())]
    return texts


def chart_payloads(at) -> list[tuple[dict, dict]]:
    """(Vega-Lite spec, {dataset name: DataFrame}) for every chart on an AppTest page."""
    import json

    from streamlit import dataframe_util

    return [(json.loads(chart.proto.spec),
             {d.name: dataframe_util.convert_arrow_bytes_to_pandas_df(d.data.data) for d in chart.proto.datasets})
            for chart in at.get("vega_lite_chart")]


def spec_texts(spec) -> list[str]:
    """The words a Vega-Lite spec shows by itself: titles (axes, legends, tooltips, facets) and scale domains."""
    out = []
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key == "title" and isinstance(value, str):
                out.append(value)
            elif key == "title" and isinstance(value, dict) and isinstance(value.get("text"), str):
                out.append(value["text"])
            elif key == "domain" and isinstance(value, list):
                out += [v for v in value if isinstance(v, str)]
            else:
                out += spec_texts(value)
    elif isinstance(spec, list):
        for value in spec:
            out += spec_texts(value)
    return out


def page_texts(at) -> list[tuple[str, str]]:
    """Everything a person can read on an AppTest page: screen_texts, the widgets, the charts' own titles."""
    texts = screen_texts(at) + widget_texts(at)
    for spec, _ in chart_payloads(at):
        texts += [("chart title", text) for text in spec_texts(spec)]
    return texts
