from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conductor.control import (
    SWEEP_STEPS,
    ControlReport,
    StyleJudge,
    SweepPoint,
    corpora_of,
    plot_sweeps,
    recognition,
    run_control,
)
from conductor.engine import Ensemble
from conductor.errors import CorpusError
from conductor.sampling import SamplingParams
from tests.conftest import Heard

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


HEARD = Heard()


@pytest.fixture(scope="module")
def report(two_styles: list[Path]) -> ControlReport:
    return run_control(two_styles, [("letters", "digits")], samples=40, length=60, progress=HEARD)


def test_the_run_reports_each_part_to_its_end(report: ControlReport) -> None:
    assert HEARD.finished() == {"judge", "recognition", "sweeps"}
    assert HEARD.reports["recognition"] == [(1, 2), (2, 2)]
    sweeps = HEARD.reports["sweeps"]  # a point at a time, over both mixers' curves
    assert len(sweeps) == 2 * SWEEP_STEPS and sweeps[SWEEP_STEPS - 1] == (1.0, 2)


def test_the_judge_learns_real_text_and_says_how_well(two_styles: list[Path]) -> None:
    judge = StyleJudge.train(corpora_of(two_styles), length=60, per_style=200)
    assert judge.holdout_accuracy >= 0.95
    assert judge.predict(["abc def ghij aa bb", "123 4567 89 00 12"]) == ["letters", "digits"]


def test_each_style_at_weight_one_is_recognised(report: ControlReport) -> None:
    assert report.recognition == {"letters": 1.0, "digits": 1.0}
    assert report.confusions == {"letters": {}, "digits": {}}


def test_what_a_style_is_taken_for_is_counted(two_styles: list[Path]) -> None:
    """The digits model under the letters' name: every sample is taken for digits."""
    judge = StyleJudge.train(corpora_of(two_styles), length=60, per_style=200)
    impostor = Ensemble.from_checkpoints([two_styles[1]], names=["letters"])
    confusions: dict[str, dict[str, int]] = {}
    shares = recognition(
        impostor, judge, 30, 60, SamplingParams(temperature=0.8), confusions=confusions
    )
    assert shares == {"letters": 0.0} and confusions == {"letters": {"digits": 30}}


@pytest.mark.parametrize("mixer", ["linear", "product"])
def test_the_sweep_moves_the_judgement_from_one_style_to_the_other(
    report: ControlReport, mixer: str
) -> None:
    points = report.sweeps["letters:digits"][mixer]
    assert [p.weight_b for p in points] == pytest.approx([k / 10 for k in range(11)])
    assert points[0].share_b == 0.0 and points[0].share_a == 1.0
    assert points[-1].share_b == 1.0 and points[-1].share_a == 0.0
    for p in points:
        assert p.share_a + p.share_b + p.share_other == pytest.approx(1.0)
    assert report.monotonic("letters:digits", mixer)


def test_monotonic_is_false_for_a_curve_that_falls() -> None:
    falling = [SweepPoint(w, 1 - w, w, 0.0) for w in (0.0, 0.5, 1.0)]
    falling[1] = SweepPoint(0.5, 0.1, 0.9, 0.0)
    falling[2] = SweepPoint(1.0, 0.2, 0.8, 0.0)
    report = ControlReport(1.0, 1, 10, 1.0, sweeps={"a:b": {"linear": falling}})
    assert not report.monotonic("a:b", "linear")


def _curve(shares: list[float], samples: int) -> ControlReport:
    points = [SweepPoint(k / 10, 1 - share, share, 0.0) for k, share in enumerate(shares)]
    return ControlReport(1.0, samples, 10, 1.0, sweeps={"a:b": {"linear": points}})


def test_a_dip_of_a_sample_or_two_at_the_top_is_sampling_noise() -> None:
    report = _curve([0.0, 0.1, 0.5, 0.9, 1.0, 0.98], samples=100)
    assert not report.monotonic("a:b", "linear")
    assert report.significant_drops("a:b", "linear") == []
    assert report.verdict("a:b", "linear") == "monotonic within sampling noise (largest dip 0.02)"


def test_a_real_fall_is_reported_where_it_happens() -> None:
    report = _curve([0.0, 0.3, 0.6, 0.4, 0.8, 1.0], samples=100)  # 0.6 → 0.4: ~2.9 s.e.
    assert report.significant_drops("a:b", "linear") == [pytest.approx(0.3)]
    assert report.verdict("a:b", "linear") == "FALLS at w_b = 0.3"
    # the same fall measured on 10 samples is within what chance gives
    assert (
        _curve([0.0, 0.3, 0.6, 0.4, 0.8, 1.0], samples=10).significant_drops("a:b", "linear") == []
    )


def test_the_plot_is_a_png(report: ControlReport, tmp_path: Path) -> None:
    path = tmp_path / "plots" / "control.png"
    plot_sweeps(report, path)
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert not list(path.parent.glob(".*.tmp"))


def test_a_changed_corpus_is_a_clear_error(two_styles: list[Path], tmp_path: Path) -> None:
    copy = tmp_path / "letters.safetensors"
    copy.write_bytes(two_styles[0].read_bytes())
    corpus = two_styles[0].with_suffix(".txt")
    original = corpus.read_bytes()
    try:
        corpus.write_bytes(original + b" zz")
        with pytest.raises(
            CorpusError, match="style .letters.: the corpus .* changed since training"
        ):
            corpora_of([copy])
    finally:
        corpus.write_bytes(original)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conductor.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_eval_control_writes_json_and_plot(two_styles: list[Path], tmp_path: Path) -> None:
    styles_dir = str(two_styles[0].parent)
    result = cli(
        "eval", "--control", "--styles", "letters,digits", "--styles-dir", styles_dir,
        "--samples", "10", "--length", "40",
        "--json", str(tmp_path / "c.json"), "--plot", str(tmp_path / "c.png"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "letters → digits (linear)" in result.stdout
    assert (tmp_path / "c.png").read_bytes()[:8] == PNG_MAGIC
    written = json.loads((tmp_path / "c.json").read_text())
    assert "recognition" in written
    assert written["monotonic"]["letters:digits"]["linear"]["significant_drops_at"] == []
    bad = cli("eval", "--control", "--styles-dir", styles_dir, "--styles", "letters,digits",
              "--pairs", "letters-digits")  # fmt: skip
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "a:b" in bad.stderr
    missing = cli("eval")
    assert missing.returncode == 2 and "--control" in missing.stderr
