"""The page's settings turned into the experiments' frozen configs (widgets become config objects)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping

from gradviz.experiments.chain import ChainConfig
from gradviz.experiments.nielsen import NIELSEN_ETA, NielsenConfig
from gradviz.experiments.recurrent import RecurrentConfig
from gradviz.training.descent import Training
from gradviz.training.remedies import L1, L2, ClipNorm, ClipValue, NoClip, NoRegularization, Remedies

CASES = ("vanishing", "exploding")


def remedies_from(values: Mapping[str, object]) -> Remedies:
    """The Remedies value the switches and their settings describe."""
    clip = NoClip()
    if values["clip"]:
        threshold = float(values["clip_threshold"])
        clip = ClipNorm(threshold) if values["clip_by"] == "norm" else ClipValue(threshold)
    regularization = NoRegularization()
    if values["regularize"]:
        lmbda = float(values["lmbda"])
        regularization = L2(lmbda) if values["penalty"] == "L2" else L1(lmbda)
    return Remedies("relu" if values["relu"] else "sigmoid",
                    float(values["forget_bias"]) if values["gating"] else None,
                    clip, regularization, str(values["init"]), float(values["gain"]))


def at_initialization(remedies: Remedies) -> Remedies:
    """The remedies that shape a network before it trains: clipping and regularization act on training only, so
    a computation at initialization leaves them out (else it would be keyed, and computed, once per setting)."""
    return replace(remedies, clip=NoClip(), regularization=NoRegularization())


@dataclass(frozen=True)
class PageState:
    """Every config the sections need, for the vanishing case (the exploding one is `replace(…, case=…)`); the
    *_at_init configs are the same networks for computations at initialization (see at_initialization)."""

    values: tuple
    remedies: Remedies
    chain: ChainConfig
    chain_training: Training
    nielsen: NielsenConfig
    nielsen_training: Training
    recurrent: RecurrentConfig
    recurrent_training: Training

    @property
    def chain_at_init(self) -> ChainConfig:
        return replace(self.chain, remedies=at_initialization(self.remedies))

    @property
    def nielsen_at_init(self) -> NielsenConfig:
        return replace(self.nielsen, remedies=at_initialization(self.remedies))

    @property
    def recurrent_at_init(self) -> RecurrentConfig:
        return replace(self.recurrent, remedies=at_initialization(self.remedies))

    @staticmethod
    def of(values: Mapping[str, object]) -> PageState:
        remedies = remedies_from(values)
        seed = int(values["seed"])
        training = Training(int(values["steps"]), float(values["eta"]))
        return PageState(
            tuple(sorted(values.items())),
            remedies,
            ChainConfig("vanishing", int(values["depth"]), float(values["a0"]), float(values["y"]), seed, remedies),
            training,
            NielsenConfig("vanishing", int(values["hidden"]), int(values["width"]), seed, remedies),
            Training(int(values["epochs"]), NIELSEN_ETA),
            RecurrentConfig("vanishing", int(values["length"]), seed=seed, remedies=remedies),
            training,
        )

    def value(self, name: str):
        return dict(self.values)[name]

    @staticmethod
    def case(config, case: str):
        """The same config for the other case."""
        return replace(config, case=case)
