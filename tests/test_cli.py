"""The command line as a user meets it: real processes, real files, one-line errors."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conductor.cli import main


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conductor.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def trained(python_text_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli")
    code = main(
        [
            "train",
            str(python_text_file),
            "--out",
            str(out),
            "--name",
            "py",
            "--size",
            "tiny",
            "--steps",
            "40",
            "--batch",
            "8",
            "--seq-len",
            "32",
            "--eval-every",
            "20",
        ]
    )
    assert code == 0
    return out / "py.safetensors"


def test_train_writes_checkpoint_record_and_state(trained: Path) -> None:
    assert trained.exists() and trained.with_suffix(".json").exists()
    assert (trained.parent / "py.resume.safetensors").exists()
    record = json.loads(trained.with_suffix(".json").read_text())
    assert record["metrics"]["step"] == 40


def test_resume_continues_to_a_larger_budget(trained: Path, python_text_file: Path) -> None:
    result = run(
        "train",
        str(python_text_file),
        "--out",
        str(trained.parent),
        "--name",
        "py",
        "--resume",
        "--steps",
        "50",
    )
    assert result.returncode == 0, result.stderr
    assert "after 50 steps" in result.stdout


def test_resume_without_a_budget_keeps_the_recorded_one(
    python_text_file: Path, tmp_path: Path
) -> None:
    common = [
        "train",
        str(python_text_file),
        "--out",
        str(tmp_path),
        "--name",
        "r",
        "--size",
        "tiny",
        "--batch",
        "8",
        "--seq-len",
        "32",
        "--eval-every",
        "10",
    ]
    assert main([*common, "--steps", "30"]) == 0
    result = run(*common, "--resume")  # no --steps/--minutes: the recorded 30 steps
    assert result.returncode == 0, result.stderr
    assert "after 30 steps" in result.stdout


def test_eval_prints_a_table_and_writes_json(trained: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    result = run("eval", str(trained), "--json", str(out))
    assert result.returncode == 0, result.stderr
    for name in ("xz -9e", "bz2 -9", "zstd -19", "ppmd o8", "py.safetensors"):
        assert name in result.stdout
    report = json.loads(out.read_text())
    assert report["test_symbols"] > 10_000 and report["model_bpc"] > 0
    # the progress bars go to stderr, finished, so a pipe of stdout holds only the table
    for task in ("model", "compressors"):
        assert any(line.startswith(task) and "100%" in line for line in result.stderr.splitlines())
    assert "100%" not in result.stdout


@pytest.mark.parametrize("output", [[], ["--json", "-"]])
def test_a_reader_that_stops_early_ends_generation_quietly(
    trained: Path, output: list[str]
) -> None:
    """`conductor generate | head`: the pipe closes under the writer; no traceback, exit 141."""
    writer = subprocess.Popen(
        [sys.executable, "-m", "conductor.cli", "generate", "--styles", str(trained),
         "--chars", "200000", *output],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert writer.stdout is not None and writer.stderr is not None
    assert len(writer.stdout.read(64)) == 64
    writer.stdout.close()  # the reader has what it wanted
    err = writer.stderr.read().decode()
    assert writer.wait(timeout=120) == 141, err
    assert err == ""


def test_generate_with_search_is_repeatable_and_says_it_searched(trained: Path) -> None:
    args = ["generate", "--styles", str(trained), "--chars", "60", "--seed", "5", "--json", "-"]
    searched = run(*args, "--search", "--search-samples", "4", "--search-depth", "3")
    assert searched.returncode == 0, searched.stderr
    again = run(*args, "--search", "--search-samples", "4", "--search-depth", "3")
    assert searched.stdout == again.stdout  # the same seed and settings: the same text
    plain = run(*args)
    assert plain.stdout != searched.stdout
    steps = [json.loads(line) for line in searched.stdout.splitlines()]
    assert len(steps) == 60 and all(step["type"] == "step" for step in steps)


def test_sample_generates_the_requested_length(trained: Path) -> None:
    result = run("sample", str(trained), "--chars", "50", "--prime", "def ", "--seed", "3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("def ")
    assert len(result.stdout.rstrip("\n")) >= 4 + 40  # newlines may be sampled too
    again = run("sample", str(trained), "--chars", "50", "--prime", "def ", "--seed", "3")
    assert again.stdout == result.stdout  # same seed, same text


def test_missing_checkpoint(tmp_path: Path) -> None:
    assert_one_line_error(run("eval", str(tmp_path / "nope.safetensors")), "no such checkpoint")


def test_corrupt_checkpoint(trained: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(trained.read_bytes()[:300])
    assert_one_line_error(run("eval", str(broken)), "truncated")
    assert_one_line_error(run("sample", str(broken)), "truncated")


def test_json_record_given_instead_of_weights(trained: Path) -> None:
    assert_one_line_error(run("eval", str(trained.with_suffix(".json"))), "readable record")


def test_unknown_style_or_file() -> None:
    assert_one_line_error(run("train", "klingon-poetry"), "neither a style", "shakespeare")
    assert_one_line_error(run("corpus", "build", "klingon"), "no corpus recipe")


def test_binary_file_as_corpus(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 10)
    assert_one_line_error(
        run("train", str(junk), "--out", str(tmp_path)), "is a binary file, not text"
    )
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9 au lait\n".encode("latin-1") * 100)
    assert_one_line_error(run("train", str(latin), "--out", str(tmp_path)), "not UTF-8", "iconv")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["serve", "--osc-port", "70000"], ["--osc-port", "from 0 to 65535, or -1"]),
        (["serve", "--port", "99999"], ["--port", "a port is from 0 to 65535"]),
        (["serve", "--oscquery-port", "-3"], ["--oscquery-port", "out of range"]),
        (["generate", "--chars", "-5"], ["--chars", "at least 0"]),
        (["generate", "--threshold", "2"], ["--threshold", "from 0 to 1"]),
        (["generate", "--temperature", "nan"], ["--temperature", "out of range"]),
        (["generate", "--top-k", "many"], ["--top-k", "not a whole number"]),
        (["train", "shakespeare", "--steps", "0"], ["--steps", "at least 1"]),
        (["generate", "--styles", "kjv", "--weights", "1,2,3"], ["3 weights for 1 style;"]),
        (["generate", "--styles", "shakespear"], ["did you mean 'shakespeare'?", "abc_irish"]),
        (
            ["generate", "--styles", "shakespeare", "--format", "wav", "--out", "x.wav"],
            ["needs styles that write ABC tunes", "shakespeare does not"],
        ),
        (["generate", "--styles", "abc_irish", "--format", "mid"], ["give --out FILE.mid"]),
        (["serve", "--music", "--styles", "shakespeare"], ["--music needs styles that write"]),
        (["serve", "--advertise"], ["--advertise announces", "--host 0.0.0.0"]),
        (["serve", "--advertise", "--host", "0.0.0.0"], ["exposes the session", "--token"]),
        (["layout", "--osc-port", "-1"], ["--osc-port: give the port"]),
        (["layout", "--styles", "shakespear"], ["did you mean 'shakespeare'?"]),
        (["generate", "--search-depth", "0"], ["--search-depth", "from 1 to 32"]),
        (["generate", "--search-samples", "100"], ["--search-samples", "from 1 to 64"]),
        (["frobnicate"], ["invalid choice", "conductor --help"]),
        (["generate", "--no-such-option"], ["unrecognized arguments: --no-such-option"]),
    ],
)
def test_bad_values_are_one_line_where_they_are_parsed(
    args: list[str], fragments: list[str], tmp_path: Path
) -> None:
    result = run(*args, cwd=tmp_path)
    assert_one_line_error(result, *fragments)
    assert not list(tmp_path.iterdir())  # and nothing was written


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        assert_one_line_error(run("serve", "--port", port), f":{port}: the port is in use")
        assert_one_line_error(
            run("serve", "--port", "0", "--osc-port", "0", "--oscquery-port", port),
            "OSCQuery",
            "the port is in use",
        )


def test_layout_writes_an_open_stage_control_session(tmp_path: Path) -> None:
    out = tmp_path / "surface.json"
    result = run("layout", "--styles", "kjv,c", "--osc-port", "9100", "--out", str(out))
    assert result.returncode == 0, result.stderr
    session = json.loads(out.read_text())
    panels = session["content"]["widgets"]
    assert [w["address"] for w in panels[0]["widgets"]] == [
        "/conductor/weight/kjv",
        "/conductor/weight/c",
    ]
    assert panels[0]["widgets"][0]["target"] == ["127.0.0.1:9100"]
    piped = run("layout", "--styles", "kjv,c", "--osc-port", "9100")  # no --out: stdout
    assert json.loads(piped.stdout) == session


def test_bare_conductor_prints_help_with_examples() -> None:
    result = run()
    assert result.returncode == 0
    assert "usage: conductor" in result.stdout and "examples:" in result.stdout
    helped = run("generate", "--help").stdout
    assert "(default: 0.8)" in helped and "(default: linear)" in helped


def test_too_small_corpus(tmp_path: Path) -> None:
    small = tmp_path / "small.txt"
    small.write_text("hello world\n" * 50)
    assert_one_line_error(
        run("train", str(small), "--out", str(tmp_path), "--steps", "5"), "--batch"
    )


def test_resume_without_state(python_text_file: Path, tmp_path: Path) -> None:
    assert_one_line_error(
        run("train", str(python_text_file), "--out", str(tmp_path), "--resume", "--steps", "5"),
        "nothing to resume",
    )


def test_corpus_list_names_every_recipe() -> None:
    result = run("corpus", "list")
    assert result.returncode == 0
    for name in ("shakespeare", "kjv", "python", "latex", "abc_irish"):
        assert name in result.stdout


def test_serve_realtime_raises_the_priority_or_says_why_not(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from conductor.cli import serve as cli

    calls: list[tuple[int, int, int]] = []
    monkeypatch.setattr(cli.os, "setpriority", lambda *args: calls.append(args))
    cli.raise_priority()
    assert calls == [(cli.os.PRIO_PROCESS, 0, cli.REALTIME_NICE)]
    assert capsys.readouterr().err == ""

    def refuse(*args: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(cli.os, "setpriority", refuse)
    cli.raise_priority()  # goes on at normal priority
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "cannot raise the priority (Operation not permitted" in err
