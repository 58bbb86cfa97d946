"""Evaluate a model: written once for every representation.

What is measured is the representation's (its ``evaluate`` hook); this
module hands it a :class:`Probe` of the model: its outputs on arrays,
held-out pieces split as in training, scores next to baselines, generation
and candidate selection as the pipeline does them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from musegen.config import Settings, check_sampling
from musegen.errors import UsageError


def evaluate(bundle, target: str, options: Settings, *, seed: int = 0) -> dict[str, Any]:
    """What ``musegen evaluate`` reports: the representation's measures of ``target`` under ``bundle``."""
    check_sampling(seed=seed)
    return bundle.representation.evaluate(Probe(bundle, seed=seed), str(target), options)


@dataclass
class Probe:
    """A model bundle as the representations' ``evaluate`` hooks use it."""

    bundle: Any
    seed: int = 0
    kept: list[Any] = field(default_factory=list, repr=False)

    def outputs(self, array: np.ndarray) -> np.ndarray:
        """The network's outputs after each step of ``array`` but the last: the predictions of steps 1.."""
        return np.asarray(self.bundle.model(array[None, :-1], training=False))[0]

    def token_bits(self, arrays: list[np.ndarray]) -> np.ndarray:
        """Bits of every token after the first of each sequence (see :func:`musegen.pipeline.token_bits`)."""
        from musegen.pipeline import token_bits

        return token_bits(self.bundle.model, arrays)

    def held_out(self, corpus: str) -> tuple[Sequence[Any], Sequence[Any], Sequence[Any]]:
        """Every piece of ``corpus`` read with the model's settings, and its training and held-out parts,
        split as in training (the bundle's ``valid_split`` and ``seed``).  Where pieces are arrays (audio) the
        three are read from disk piece by piece (:func:`musegen.pipeline.held_out_pieces`): iterate them, do not
        gather them."""
        from musegen.pipeline import held_out_pieces

        split = held_out_pieces(self.bundle.representation, corpus, config=self.bundle.config)
        if split.keep is not None:
            self.kept.append(split.keep)  # the pieces' folder lives as long as the probe
        return split.pieces, split.train, split.valid

    def head_loss(self, name: str) -> Callable[..., Any]:
        """The NumPy form of a head's loss terms (``roll``, ``gaussian``): ``f(np, targets, outputs)``."""
        from musegen.models import LOSS_TERMS

        return LOSS_TERMS[name]

    def held_out_scores(self, pieces: list[Any], predictors: dict[str, Callable[[np.ndarray], np.ndarray]],
                        score: Callable[[np.ndarray, np.ndarray, np.ndarray], dict[str, float]],
                        ) -> tuple[int, dict[str, float]]:
        """Score every step after the first of each held-out piece, by the model and by each baseline.

        ``predictors`` maps a baseline's name to ``predict(previous steps) ->
        outputs shaped like the model's``; ``score(outputs, targets,
        previous)`` returns named per-step means.  Returns the number of steps
        scored and the step-weighted means: ``key`` for the model,
        ``NAME_key`` for a baseline.
        """
        rows: dict[str, list[tuple[int, dict[str, float]]]] = {"model": [], **{k: [] for k in predictors}}
        rep = self.bundle.representation
        for piece in pieces:
            cols = rep.encode(piece)
            if len(cols) < 2:
                continue
            prev, target = cols[:-1], cols[1:]
            rows["model"].append((len(target), score(self.outputs(cols), target, prev)))
            for kind, predict in predictors.items():
                rows[kind].append((len(target), score(predict(prev), target, prev)))
        if not rows["model"]:
            raise UsageError("no held-out piece is long enough to score (two steps at least)")
        means: dict[str, float] = {}
        for kind, scored in rows.items():
            weights = np.array([w for w, _ in scored], float)
            for key in scored[0][1]:
                means[key if kind == "model" else f"{kind}_{key}"] = float(
                    np.average([r[key] for _, r in scored], weights=weights))
        return int(sum(w for w, _ in rows["model"])), means

    def generate(self, *, num: int, temperature: float, max_length: int, primer: Any, **options: Any):
        """Pieces generated as ``musegen sample`` generates them, with the probe's seed (nothing repaired)."""
        from musegen.pipeline import generate, sample_batches

        check_sampling(temperature=temperature, num=num, max_length=max_length)
        fit = sample_batches(self.bundle.representation, total=num, candidates=1, max_length=max_length)
        if fit < num:  # evaluation compares all the samples at once: they must fit in one batch
            raise UsageError(f"{num:,} samples of {max_length:,} steps are more than evaluate makes at once "
                             f"({fit:,}); ask for fewer samples or shorter ones")
        return generate(self.bundle, num=num, temperature=temperature, seed=self.seed, max_length=max_length,
                        primer=primer, **options)

    def select(self, pieces: list[Any], *, candidates: int) -> list[tuple[Any, dict[str, Any]]]:
        """Repaired pieces, one kept of every ``candidates`` as ``musegen sample`` keeps them."""
        from musegen.pipeline import select_candidates

        return select_candidates(self.bundle.representation, pieces, candidates=candidates)
