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
from conductor.search import DIGIT, MAX_MARGIN, Choice, SearchSettings, kinds, search


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


def test_inside_a_word_the_search_also_chooses_whether_it_ends(two_styles: list[Path]) -> None:
    ensemble = Ensemble.from_checkpoints(two_styles)
    ensemble.set_streams(6)
    logits = ensemble.step(torch.full((6,), ord("b")))  # [B, N, V]: a word is open
    w = torch.full((6, 2), 0.5)
    choice = search(ensemble, logits, frozenset({0, 1}), "linear", w, w, SamplingParams(1.0),
                    torch.Generator().manual_seed(1), SearchSettings(samples=12, depth=3, margin=0),
                    previous=torch.full((6,), ord("b")))  # fmt: skip
    kind = kinds(ensemble.vocab)
    crossed = 0
    for b in range(6):
        drawn = int(kind[choice.starts[b, 0]])
        for start, score in zip(choice.starts[b], choice.scores[b], strict=True):
            k = int(kind[start])
            may = k == drawn or DIGIT not in (k, drawn)  # a letter or a word's end, no digit
            assert bool(torch.isfinite(score)) == may
            crossed += may and k != drawn
    assert crossed > 0  # letters and word ends competed in the same choice


def test_plain_sampling_stands_unless_a_path_beats_it_by_the_margin(
    two_styles: list[Path],
) -> None:
    ensemble = Ensemble.from_checkpoints(two_styles)
    ensemble.set_streams(8)
    logits = ensemble.step(torch.full((8,), ord(" ")))  # [B, N, V]
    w = torch.full((8, 2), 0.5)

    def choose(margin: float) -> Choice:
        settings = SearchSettings(12, 3, margin=margin)
        generator = torch.Generator().manual_seed(2)
        return search(ensemble, logits, frozenset({0, 1}), "linear", w, w, SamplingParams(1.0),
                      generator, settings)  # fmt: skip

    best = choose(0.0)
    assert torch.equal(best.chosen, best.scores.argmax(-1))
    assert (best.chosen != 0).any()  # somewhere a path beat plain sampling's
    for margin in (0.5, 2.0):
        chosen = choose(margin)  # the same draws: the generator is seeded alike
        lead = chosen.scores.max(-1).values - chosen.scores[:, 0]  # [B]
        assert torch.equal(chosen.chosen, torch.where(lead > margin, best.chosen, 0))
    kept = choose(MAX_MARGIN)
    assert torch.equal(kept.symbols, kept.starts[:, 0])  # plain sampling's symbol, always


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
    searched = mean_log_prob(SearchSettings(samples=16, depth=4, keep_kind=False, margin=0))
    assert searched > plain + 0.1, (searched, plain)
    kept = mean_log_prob(SearchSettings(samples=16, depth=4))  # letters chosen, not spaces
    assert plain < kept < searched


def test_the_balance_keeps_each_style_near_its_weight(two_styles: list[Path]) -> None:
    """Letters and digits at 0.5 each: with the penalty, windows of the text hold the two in
    closer proportion (the paths that let one style write everything lose)."""

    def imbalance(balance: float) -> float:
        settings = SearchSettings(12, 4, balance=balance, keep_kind=False, margin=0)
        total = 0.0
        for seed in (1, 2, 3):
            text, _ = run(two_styles, settings, [0.5, 0.5], 300, seed=seed)
            marks = [c.isdigit() for c in text if not c.isspace()]
            windows = [marks[i : i + 8] for i in range(0, len(marks) - 8, 8)]
            total += sum(abs(sum(w) / len(w) - 0.5) for w in windows) / len(windows)
        return total / 3

    assert imbalance(5.0) < imbalance(0.0) - 0.02


def test_settings_out_of_range_are_one_line_errors() -> None:
    bad_settings = ({"samples": 0}, {"samples": 65}, {"depth": 0}, {"depth": 33}, {"balance": -1.0},
                    {"margin": -0.5}, {"margin": 101.0})  # fmt: skip
    for bad in bad_settings:
        with pytest.raises(ConductorError, match="search"):
            SearchSettings(**bad)  # type: ignore[arg-type]
    assert SearchSettings(8, 4).path_steps == 24
