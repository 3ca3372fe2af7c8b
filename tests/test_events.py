"""Events: one typed class each, one JSON shape each; serve and generate write the same step."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from conductor.engine import Ensemble
from conductor.events import (
    BarEvent,
    ErrorEvent,
    PrimeEvent,
    ResetEvent,
    StateEvent,
    StepEvent,
)
from conductor.generate import Conductor
from conductor.notes import Note
from conductor.sampling import SamplingParams
from conductor.session import Session

STEP_KEYS = ["type", "i", "symbol", "by", "weights", "attribution"]


def test_a_step_is_written_by_name_with_its_distributions_on_demand(
    two_styles: list[Path],
) -> None:
    conductor = Conductor(Ensemble.from_checkpoints(two_styles), seed=1)
    steps = conductor.step([0.25, 0.75])
    symbol = conductor.ensemble.vocab.decode(steps.symbols[:1].tolist())
    event = StepEvent.from_steps(steps, ["letters", "digits"], symbol)
    payload = json.loads(event.json_text())
    assert list(payload) == STEP_KEYS
    assert payload["i"] == 0 and payload["symbol"] == symbol
    assert payload["weights"] == {"letters": 0.25, "digits": 0.75}
    assert set(payload["attribution"]) == {"letters", "digits"}
    assert abs(sum(payload["attribution"].values()) - 1) < 1e-3
    assert payload["by"] == max(payload["attribution"], key=payload["attribution"].get)
    dists = event.dists()
    assert dists is event.dists()  # made once
    assert dists.per_model.shape == (2, 128) and torch.allclose(dists.mixed.sum(), torch.ones(()))
    shown = dists.to_json()
    assert shown["type"] == "dists" and shown["i"] == 0 and len(shown["per_model"]) == 2


def test_a_skipped_style_sends_no_distribution(two_styles: list[Path]) -> None:
    conductor = Conductor(Ensemble.from_checkpoints(two_styles), threshold=0.05)
    steps = conductor.step([0.98, 0.02])  # digits is under the threshold: it does not run
    event = StepEvent.from_steps(steps, ["letters", "digits"], "a")
    rows = event.dists().to_json()["per_model"]
    assert rows[1] is None and len(rows[0]) == 128 and abs(sum(rows[0]) - 1) < 0.02
    assert event.to_json()["weights"]["digits"] == 0.0  # the weight in force


def test_the_other_events_have_the_protocol_shapes() -> None:
    assert StateEvent({"step": 3}).to_json() == {"type": "state", "state": {"step": 3}}
    assert StateEvent({"step": 3}, id="q1").to_json()["id"] == "q1"
    assert PrimeEvent("Once", 7).to_json() == {"type": "prime", "text": "Once", "i": 7}
    assert ResetEvent(9).to_json() == {"type": "reset", "i": 9}
    assert ErrorEvent("no").to_json() == {"type": "error", "message": "no"}
    notes = (Note(62, 90, 0.0, 0.25), Note(50, 52, 0.0, 1.5, voice=1))
    bar = BarEvent(1, 2, "dfa|", "X:1", True, None, 0.123456, 1.5, notes, {}, 3, 0)
    shown = bar.to_json()
    assert shown["type"] == "bar" and shown["starts_in"] == 0.1235
    assert shown["notes"] == [[62, 90, 0.0, 0.25, 0], [50, 52, 0.0, 1.5, 1]]  # melody, chord


def test_serve_and_generate_write_the_same_step_shape(
    two_styles: list[Path], tmp_path: Path
) -> None:
    """The session's step event and `generate --json`'s line are one shape (and, for the same
    seed, weights and prime, the same symbols)."""
    from tests.test_generate import cli as run_cli

    out = tmp_path / "steps.jsonl"
    styles = ",".join(map(str, two_styles))
    result = run_cli(
        "generate", "--styles", styles, "--weights", "1,0", "--chars", "20", "--prime", "",
        "--seed", "3", "--json", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    generated = [json.loads(line) for line in out.read_text().splitlines()]
    params = SamplingParams(temperature=0.8)  # generate's default
    conductor = Conductor(Ensemble.from_checkpoints(two_styles), params=params, seed=3)
    session = Session(conductor, [1.0, 0.0])
    served = [session.step().to_json() for _ in range(20)]
    session.close()
    assert all(list(line) == STEP_KEYS for line in generated + served)
    assert [line["symbol"] for line in generated] == [line["symbol"] for line in served]
