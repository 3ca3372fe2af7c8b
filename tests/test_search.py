"""Lookahead search: deterministic, the main ensemble untouched but for the chosen symbol, the
kind of symbol kept from plain sampling, more probable text than plain sampling, the morph kept
by the balance penalty."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conductor.engine import Ensemble
from conductor.errors import ConductorError
from conductor.generate import Conductor
from conductor.mixing import mix
from conductor.sampling import SamplingParams
from conductor.search import SearchSettings, kinds, search


def run(paths: list[Path], settings: SearchSettings | None, weights: list[float], n: int = 80,
        mixer: str = "linear", seed: int = 3) -> tuple[str, Conductor]:  # fmt: skip
    conductor = Conductor(Ensemble.from_checkpoints(paths), mixer, SamplingParams(0.8), seed)  # type: ignore[arg-type]
    conductor.search = settings
    text = "".join(chr(int(conductor.step(weights).symbols[0])) for _ in range(n))
    return text, conductor


def test_the_same_seed_and_settings_give_the_same_text(two_styles: list[Path]) -> None:
    settings = SearchSettings(samples=6, depth=3)
    first, _ = run(two_styles, settings, [0.5, 0.5])
    again, _ = run(two_styles, settings, [0.5, 0.5])
    assert first == again
    assert run(two_styles, settings, [0.5, 0.5], seed=4)[0] != first


@pytest.mark.parametrize("mixer", ["linear", "product"])
def test_the_models_read_only_the_chosen_symbols(two_styles: list[Path], mixer: str) -> None:
    text, searched = run(two_styles, SearchSettings(samples=5, depth=4), [0.6, 0.4], 40, mixer)
    plain = Ensemble.from_checkpoints(two_styles)
    history = "\n" + text[:-1]  # the first input is a newline; the last symbol is still pending
    for char in history:
        plain.step(torch.tensor([ord(char)]))
    assert searched.ensemble.state_digest() == plain.state_digest()
    assert searched.ensemble.streams == 1  # the paths ran in a branch, not in the ensemble


def test_a_branch_copies_each_stream_and_leaves_its_parent_alone(two_styles: list[Path]) -> None:
    ensemble = Ensemble.from_checkpoints(two_styles)
    ensemble.set_streams(2)
    ensemble.step(torch.tensor([ord("a"), ord("7")]))
    before = ensemble.state_digest()
    branch = ensemble.branch(3)
    assert branch.streams == 6
    parent_logits = ensemble.current_logits({0, 1})  # [2, N, V]
    torch.testing.assert_close(branch.current_logits({0, 1}), parent_logits.repeat_interleave(3, 0))
    branch.step(torch.tensor([ord(c) for c in "abc123"]), {0})
    assert ensemble.state_digest() == before and branch.state_digest() != before
    with pytest.raises(ConductorError, match="at least one"):
        ensemble.branch(0)


def test_only_paths_of_the_kind_sampling_drew_compete(two_styles: list[Path]) -> None:
    ensemble = Ensemble.from_checkpoints(two_styles)
    ensemble.set_streams(4)
    logits = ensemble.step(torch.full((4,), ord(" ")))  # [B, N, V]
    w = torch.full((4, 2), 0.5)
    generator = torch.Generator().manual_seed(0)
    choice = search(ensemble, logits, frozenset({0, 1}), "linear", w, w, SamplingParams(1.0),
                    generator, SearchSettings(samples=12, depth=3))  # fmt: skip
    kind = kinds(ensemble.vocab)
    assert choice.foresight.shape == (4, 2) and choice.scores.shape == (4, 12)
    left_out = 0
    for b in range(4):
        drawn = int(kind[choice.starts[b, 0]])  # plain sampling's own draw is path 0
        competing = torch.isfinite(choice.scores[b])
        assert competing[0] and int(kind[choice.symbols[b]]) == drawn
        assert all(int(kind[s]) == drawn for s in choice.starts[b][competing])
        assert all(int(kind[s]) != drawn for s in choice.starts[b][~competing])
        left_out += int((~competing).sum())
    assert left_out > 0  # after a space both letters, digits and spaces were drawn


def test_search_writes_text_the_mix_finds_more_probable(two_styles: list[Path]) -> None:
    def mean_log_prob(settings: SearchSettings | None) -> float:
        text, _ = run(two_styles, settings, [1.0, 0.0], 200)
        scorer = Ensemble.from_checkpoints(two_styles)
        total = 0.0
        for prev, char in zip("\n" + text, text, strict=False):
            logits = scorer.step(torch.tensor([ord(prev)]))
            total += float(
                mix(torch.log_softmax(logits, -1), torch.tensor([1.0, 0.0]))[0, ord(char)]
            )
        return total / len(text)

    plain = mean_log_prob(None)
    # the paper's rule (the best path, whatever kind of symbol it starts with)
    searched = mean_log_prob(SearchSettings(samples=16, depth=4, keep_kind=False))
    assert searched > plain + 0.1, (searched, plain)
    kept = mean_log_prob(SearchSettings(samples=16, depth=4))  # letters chosen, not spaces
    assert plain < kept < searched


def test_the_balance_keeps_each_style_near_its_weight(two_styles: list[Path]) -> None:
    """Letters and digits at 0.5 each: with the penalty, windows of the text hold the two in
    closer proportion (the paths that let one style write everything lose)."""

    def imbalance(balance: float) -> float:
        settings = SearchSettings(samples=12, depth=4, balance=balance, keep_kind=False)
        total = 0.0
        for seed in (1, 2, 3):
            text, _ = run(two_styles, settings, [0.5, 0.5], 300, seed=seed)
            marks = [c.isdigit() for c in text if not c.isspace()]
            windows = [marks[i : i + 8] for i in range(0, len(marks) - 8, 8)]
            total += sum(abs(sum(w) / len(w) - 0.5) for w in windows) / len(windows)
        return total / 3

    assert imbalance(5.0) < imbalance(0.0) - 0.02


def test_settings_out_of_range_are_one_line_errors() -> None:
    for bad in ({"samples": 0}, {"samples": 65}, {"depth": 0}, {"depth": 33}, {"balance": -1.0}):
        with pytest.raises(ConductorError, match="search"):
            SearchSettings(**bad)  # type: ignore[arg-type]
    assert SearchSettings(8, 4).path_steps == 24
