"""The page's settings turned into the experiments' frozen configs (widgets become config objects)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping

from gradviz.experiments.chain import ChainConfig
from gradviz.experiments.nielsen import NIELSEN_ETA, NielsenConfig
from gradviz.experiments.recurrent import RecurrentConfig
from gradviz.training.descent import Training
from gradviz.training.remedies import REMEDIES, NoClip, NoRegularization, Remedies, applicable

CASES = ("vanishing", "exploding")
# The settings of the remedies the article does not teach, as they are when off: the lesson's networks are the
# article's.
BEYOND_ARTICLE_OFF = {row.name: row.default for remedy in REMEDIES if not remedy.in_article for row in remedy.rows}


def read_values(values: Mapping[str, object]) -> dict:
    """The settings as the view shown reads them: the lesson (values["lesson"]) with only the article's remedies."""
    return {**values, **BEYOND_ARTICLE_OFF} if values["lesson"] else dict(values)


def at_initialization(remedies: Remedies) -> Remedies:
    """The remedies that shape a network before it trains: clipping and regularization act on training only, so
    a computation at initialization leaves them out (else it would be keyed, and computed, once per setting)."""
    return replace(remedies, clip=NoClip(), regularization=NoRegularization())


@dataclass(frozen=True)
class PageState:
    """Every config the sections need, for the vanishing case (the exploding one is `replace(…, case=…)`); the
    *_at_init configs are the same networks for computations at initialization (see at_initialization). Each
    experiment's config holds the remedies that apply to it (the registry's `applicable`); `remedies` holds them all."""

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
        return replace(self.chain, remedies=at_initialization(self.chain.remedies))

    @property
    def nielsen_at_init(self) -> NielsenConfig:
        return replace(self.nielsen, remedies=at_initialization(self.nielsen.remedies))

    @property
    def recurrent_at_init(self) -> RecurrentConfig:
        return replace(self.recurrent, remedies=at_initialization(self.recurrent.remedies))

    @staticmethod
    def of(values: Mapping[str, object]) -> PageState:
        """The configs the settings describe, as the view shown reads them (read_values)."""
        values = read_values(values)
        remedies = Remedies.from_settings(values)
        seed = int(values["seed"])
        training = Training(int(values["steps"]), float(values["eta"]))
        return PageState(
            tuple(sorted(values.items())),
            remedies,
            ChainConfig("vanishing", int(values["depth"]), float(values["a0"]), float(values["y"]), seed,
                        applicable(remedies, "chain")),
            training,
            NielsenConfig("vanishing", int(values["hidden"]), int(values["width"]), seed,
                          applicable(remedies, "nielsen")),
            Training(int(values["epochs"]), NIELSEN_ETA),
            RecurrentConfig("vanishing", int(values["length"]), seed=seed, remedies=applicable(remedies, "recurrent")),
            training,
        )

    def value(self, name: str):
        return dict(self.values)[name]

    @staticmethod
    def case(config, case: str):
        """The same config for the other case."""
        return replace(config, case=case)
