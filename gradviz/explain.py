"""The words and formulas the dashboard shows, built from live results (plain strings, no Streamlit).

Each function takes an analysed run and returns Markdown or LaTeX in which every number is the
run's own, written through gradviz.formatting so nothing prints as 'nan' or 'inf'.
"""

from __future__ import annotations

import math

from gradviz.chain import ChainReport
from gradviz.formatting import magnitude_latex, magnitude_text, ratio_text
from gradviz.theory import prob_abs_normal_below, prob_factor_below

FULL_PRODUCT_MAX_DEPTH = 6
SLOPE_LATEX = {"sigmoid": r"\sigma'", "tanh": r"\tanh'", "relu": r"\mathrm{relu}'"}
SLOPE_TEXT = {"sigmoid": "σ'", "tanh": "tanh'", "relu": "relu'"}


def factor_symbol(activation: str, gated: bool, j: str = "j") -> str:
    """The article's factor ∂a_j/∂a_{j−1} as LaTeX: w_j σ'(z_j), or f_j + i_j w_j σ'(z_j) when gated."""
    term = rf"w_{{{j}}}{SLOPE_LATEX[activation]}(z_{{{j}}})"
    return rf"(f_{{{j}}} + i_{{{j}}}{term})" if gated else term


def factor_title(activation: str, gated: bool) -> str:
    """The factor as plain text, for chart titles."""
    slope = SLOPE_TEXT[activation]
    return f"f_j + i_j w_j {slope}(z_j)" if gated else f"w_j {slope}(z_j)"


def _first_symbol(activation: str, gated: bool) -> str:
    slope = rf"{SLOPE_LATEX[activation]}(z_1)"
    return rf"i_1{slope}" if gated else slope


def _term(log10_value: float, sign: float) -> str:
    number = magnitude_latex(log10_value, sign)
    return f"({number})" if sign < 0 else number


def chain_rule_latex(report: ChainReport) -> str:
    """∂C/∂b_1 = ∂a_1/∂b_1 · Π_{j≥2} factor_j · ∂C/∂a_L, with the live numbers, their product and the total.

    Chains longer than FULL_PRODUCT_MAX_DEPTH show the first two factors, the last, and how many
    stand between them.
    """
    cfg, layers = report.config, report.layers
    gated = cfg.forget_bias is not None
    depth = len(layers)
    symbols = [_first_symbol(cfg.activation, gated)]
    symbols += [factor_symbol(cfg.activation, gated, str(j)) for j in range(2, depth + 1)]
    numbers = [_term(layers["da_db_log10"].iloc[0], 1.0)]
    numbers += [_term(v, s) for v, s in zip(layers["factor_log10"].iloc[1:], layers["factor_sign"].iloc[1:])]
    if depth > FULL_PRODUCT_MAX_DEPTH:
        gap = rf"\underbrace{{\cdots}}_{{{depth - 4}\text{{ more}}}}"
        symbols = symbols[:3] + [r"\cdots", symbols[-1]]
        numbers = numbers[:3] + [gap, numbers[-1]]
    grad_a_symbol = rf"\frac{{\partial C}}{{\partial a_{{{depth}}}}}"
    product_log10 = layers["da_db_log10"].iloc[0] + layers["factor_log10"].iloc[1:].sum()
    product_sign = float(layers["factor_sign"].iloc[1:].prod())
    grad_a = report.grad_a_L
    grad_a_number = _term(math.log10(abs(grad_a)) if grad_a else -math.inf, math.copysign(1.0, grad_a))
    total = magnitude_latex(report.log10_abs_grad_b1, report.sign_grad_b1, digits=7)
    lines = [
        r"\frac{\partial C}{\partial b_1} &= " + r" \, ".join(symbols + [grad_a_symbol]),
        "&= " + r" \times ".join(numbers + [grad_a_symbol]),
        f"&= {magnitude_latex(product_log10, product_sign, digits=7)}" + rf" \times {grad_a_number}",
        f"&= {total}",
    ]
    return r"\begin{aligned} " + r" \\ ".join(lines) + r" \end{aligned}"


def weight_probability_facts(a: float = 0.5) -> dict[str, float]:
    """P(|w| < 1), P(|w| < 1/4) and P(|w σ'(w a + b)| < 1/4) for w, b ~ N(0, 1)."""
    return {
        "abs_w_below_1": prob_abs_normal_below(1.0),
        "abs_w_below_quarter": prob_abs_normal_below(0.25),
        "factor_below_quarter": prob_factor_below(0.25, a),
    }


def percent(p: float) -> str:
    """0.6827 -> '68.3 %'."""
    return f"{100 * p:.1f} %"


def _count(layers, condition) -> int:
    return int(condition(layers["factor_log10"].iloc[1:]).sum())


def chain_story(report: ChainReport) -> str:
    """Two or three sentences, Markdown with inline LaTeX, tying this chain's numbers to the article's argument."""
    cfg, layers = report.config, report.layers
    sentences = [_exploding_construction(cfg, layers) if cfg.case == "exploding" else _vanishing_setup(cfg, layers)]
    n_factors = len(layers) - 1
    if n_factors:
        below_quarter = _count(layers, lambda f: f < math.log10(0.25))
        above_one = _count(layers, lambda f: f > 0)
        dead = _count(layers, lambda f: f == -math.inf)
        dead_note = (f"; {dead} are exactly 0 (ReLU off, $z_j \\le 0$), which cuts every earlier layer off from the "
                     "gradient" if dead else "")
        sentences.append(f"Here {below_quarter} of the {n_factors} factors in the product are below 1/4 "
                         f"and {above_one} above 1{dead_note}.")
    grad_b = report.layers["grad_b_log10"]
    sentences.append(r"So $|\partial C/\partial b_1| \,/\, |\partial C/\partial b_L|$ = "
                     f"{ratio_text(grad_b.iloc[0], grad_b.iloc[-1])}.")
    return " ".join(sentences)


def _vanishing_setup(cfg, layers) -> str:
    drawn = f"Weights and biases are drawn from N(0, 1) (seed {cfg.seed})."
    if cfg.forget_bias is not None:
        f = layers["f"].iloc[0]
        decay = magnitude_text((len(layers) - 1) * math.log10(f))
        return (f"{drawn} With gating each factor is $f_j + i_j w_j \\sigma'(z_j)$: the forget gate "
                f"$f = \\sigma({cfg.forget_bias:g}) = {f:.3f}$ carries the gradient along the cell path, so factors sit "
                f"near $f$ instead of below 1/4, yet a forget gate below 1 still decays over a long chain "
                f"($f^{{{len(layers) - 1}}}$ = {decay}).")
    p_below_one = percent(prob_abs_normal_below(1.0))
    if cfg.activation == "relu":
        return (f"{drawn} With ReLU each factor is $w_j$ where the neuron is on ($z_j > 0$) and 0 where it is off: no "
                f"$\\sigma' \\le 1/4$ shrinks it, but $|w_j| < 1$ still holds {p_below_one} of the time, "
                "and in a chain one neuron off stops the gradient dead.")
    return (f"{drawn} Since $\\sigma' \\le 1/4$, a factor $|w_j \\sigma'(z_j)|$ is below 1/4 whenever $|w_j| < 1$, "
            f"which N(0, 1) gives {p_below_one} of the time.")


def _exploding_construction(cfg, layers) -> str:
    factor = magnitude_text(layers["factor_log10"].iloc[-1], layers["factor_sign"].iloc[-1])
    slope = SLOPE_LATEX[cfg.activation]
    z_star = layers["z"].iloc[0]
    if cfg.forget_bias is not None:
        branch = magnitude_text(layers["da_db_log10"].iloc[0] + 2.0)
        return (f"Every $w_j = 100$, with $b_j$ chosen so every $z_j = {z_star:g}$ also through the gates. "
                f"The gate adds a path of gain $f = {layers['f'].iloc[0]:.3f}$ but keeps the branch's gain "
                f"$i\\,w\\,{slope}({z_star:g})$ = {branch}: each factor is {factor}, so gating alone does not stop "
                "this explosion.")
    if cfg.activation == "relu":
        return ("Every $w_j = 100$, and $b_j = 1 - 100\\,a_{j-1}$ keeps every neuron on ($z_j = 1$), where ReLU's "
                f"slope is 1: each factor is $w_j$ = {factor}. Without $\\sigma' \\le 1/4$ damping the weights, "
                "the chain explodes 4× faster per layer.")
    peak = magnitude_text(layers["da_db_log10"].iloc[0])
    return (f"Every $w_j = 100$, and $b_j = -100\\,a_{{j-1}}$ makes every $z_j = 0$, where ${slope}$ peaks at {peak}: "
            f"each factor is exactly 100 × {peak} = {factor}.")
