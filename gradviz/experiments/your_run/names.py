"""What the names in a log mean: which column holds the time, the layer, the gradient statistic or the loss;
which parameter a column or a TensorBoard tag holds the gradient of; which layer a parameter belongs to; and
the layers' forward order, recovered from the numbers in their names where they carry it.

Names are compared after `normalized`: spaces around them dropped, a W&B panel's "<run> - " prefix
dropped, lower case.
"""

from __future__ import annotations

import re

import numpy as np

TIME_COLUMNS = ("global_step", "step", "_step", "trainer/global_step", "iteration", "iter", "epoch")
LAYER_COLUMNS = ("layer", "layer_name", "module", "name")
PARAMETER_COLUMNS = ("param", "parameter", "param_name", "parameter_name")
OPTIONAL_NORMS = ("weight_norm", "update_norm", "clipped_norm")
# A long table's value column, in order of preference, and the statistic it holds.
STATISTICS = {"grad_norm": "norm", "gradient_norm": "norm", "grad_l2_norm": "norm", "grad_norm_mean": "norm",
              "mean_grad_norm": "norm", "grad_rms": "rms", "rms_grad": "rms", "mean_abs_grad": "mean_abs",
              "grad_mean_abs": "mean_abs", "grad_abs_mean": "mean_abs"}
# The loss, in order of preference: a step's loss before an epoch's mean.
LOSS_COLUMNS = ("loss", "train/loss", "train_loss", "train_loss_step", "train/loss_step", "loss/train",
                "training_loss", "train/loss_epoch", "train_loss_epoch")
TAG_COLUMNS = ("tag",)
VALUE_COLUMNS = ("value",)
# A path part that names a gradient statistic: grad, gradients, grad_norm, grad_2.0_norm (Lightning),
# grad_rms, mean_abs_grad …
GRADIENT_WORD = re.compile(r"grad(ient)?s?([_-]?(2(\.0)?_|l2_)?norms?)?(_mean)?|grad(ient)?_(rms|mean_abs|abs_mean)"
                           r"|rms_grad|mean_abs_grad(ient)?", re.IGNORECASE)
PARAMETER_NAME = re.compile(r"(\w+_)?(weight|bias|kernel|gamma|beta|scale|embeddings)(_\w+)?", re.IGNORECASE)
NUMBER = re.compile(r"(\d+)")


def normalized(name: str) -> str:
    """' run-1 - Train/Loss ' → 'train/loss'."""
    return name.strip().rsplit(" - ", 1)[-1].strip().lower()


def first_present(columns: list[str], wanted) -> int | None:
    """The index of the first column (in the order of `wanted`) whose normalized name is wanted, or None."""
    where = {}
    for index, column in enumerate(columns):
        where.setdefault(normalized(column), index)
    return next((where[name] for name in wanted if name in where), None)


def statistic_of(word: str) -> str:
    """The statistic a gradient word names: "rms", "mean_abs" or "norm"."""
    word = word.lower()
    if "rms" in word:
        return "rms"
    return "mean_abs" if "abs" in word else "norm"


def parameter_of(name: str) -> tuple[str, str] | None:
    """(the gradient word, the parameter) that a column or tag holds, or None:
    'grad_norm/encoder.0.weight' → ('grad_norm', 'encoder.0.weight').

    The name's first path part that is a gradient word starts the parameter; a name with nothing after it
    (train/grad_norm, a global norm) and a W&B panel's __MIN / __MAX columns are not per-layer.
    """
    metric = name.strip().rsplit(" - ", 1)[-1]
    if metric.endswith(("__MIN", "__MAX")):
        return None
    parts = metric.split("/")
    word = next((k for k, part in enumerate(parts) if GRADIENT_WORD.fullmatch(part)), None)
    if word is None or word == len(parts) - 1:
        return None
    return parts[word], "/".join(parts[word + 1:])


def layer_of(parameter: str) -> str:
    """The layer a parameter belongs to: 'encoder.0.weight' → 'encoder.0', 'dense_1/kernel' → 'dense_1'."""
    for separator in ("/", "."):
        layer, _, last = parameter.rpartition(separator)
        if layer and PARAMETER_NAME.fullmatch(last):
            return layer
    return parameter


def _numbers(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in NUMBER.findall(name))


def forward_order(names: list[str], file_order_is_forward: bool) -> tuple[np.ndarray, str]:
    """(a permutation putting the layers in forward order, how it was found): "file" (the file's order, which
    the names agree with or do not contradict), "names" (sorted by the numbers in their names: layers.2
    before layers.10), "reversed" (the file lists them backward, as backward hooks fire) or "unknown".

    Names that differ only in their numbers (layers.0 … layers.11, block_3, h.7) form a group; a group's
    numbers give its members' order. Where no group has two members, the file's order stands, unless the
    layout does not keep the logging order (`file_order_is_forward` False: exports sort their columns and
    tags) and the names are in alphabetical order: then the order is unknown.
    """
    identity = np.arange(len(names))
    groups: dict[str, list[int]] = {}
    for index, name in enumerate(names):
        if NUMBER.search(name):
            groups.setdefault(NUMBER.sub("#", name), []).append(index)
    groups = {stem: members for stem, members in groups.items() if len(members) > 1}
    if not groups:
        if not file_order_is_forward and len(names) > 1 and list(names) == sorted(names):
            return identity, "unknown"
        return identity, "file"
    directions = set()
    for members in groups.values():
        numbers = [_numbers(names[k]) for k in members]
        directions.add("up" if numbers == sorted(numbers) else "down" if numbers == sorted(numbers, reverse=True)
                       else "mixed")
    if directions == {"up"}:
        return identity, "file" if file_order_is_forward else "names"
    if directions == {"down"}:
        return identity[::-1].copy(), "reversed"
    order = identity.copy()
    for members in groups.values():
        order[members] = sorted(members, key=lambda k: _numbers(names[k]))
    return order, "names"
