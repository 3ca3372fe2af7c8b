"""Where styles are found: shipped with the package, the user's own beside them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conductor.errors import ConductorError
from conductor.library import (
    DEFAULT_STYLES,
    available,
    resolve_style,
    resolve_styles,
    search_path,
    shipped_dir,
)


@pytest.fixture(autouse=True)
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test runs from an empty directory, as a pip user would."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CONDUCTOR_STYLES", raising=False)
    return tmp_path


def test_the_shipped_ensemble_comes_with_the_package() -> None:
    paths = resolve_styles(",".join(DEFAULT_STYLES))
    assert [p.stem for p in paths] == list(DEFAULT_STYLES)
    assert all(p.parent == shipped_dir() and p.is_file() for p in paths)
    assert set(DEFAULT_STYLES) <= set(available())


def test_the_users_own_style_of_a_name_wins(elsewhere: Path, two_styles: list[Path]) -> None:
    mine = elsewhere / "styles"
    mine.mkdir()
    shutil.copy(two_styles[0], mine / "shakespeare.safetensors")
    shutil.copy(two_styles[0], mine / "letters.resume.safetensors")  # training state: no style
    assert resolve_style("shakespeare") == Path("styles/shakespeare.safetensors")
    assert resolve_style("kjv").parent == shipped_dir()
    assert "letters.resume" not in available()


def test_styles_dir_then_the_environment_then_the_rest(
    elsewhere: Path, two_styles: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = elsewhere / "a", elsewhere / "b"
    for directory in (first, second):
        directory.mkdir()
        shutil.copy(two_styles[1], directory / "kjv.safetensors")
    monkeypatch.setenv("CONDUCTOR_STYLES", str(second))
    assert search_path(first)[:2] == [first, second]
    assert resolve_style("kjv", first) == first / "kjv.safetensors"
    assert resolve_style("kjv") == second / "kjv.safetensors"


def test_a_typo_gets_a_suggestion_and_the_list() -> None:
    with pytest.raises(ConductorError, match=r"did you mean 'shakespeare'\? styles here: ") as e:
        resolve_style("shakespear")
    assert "abc_irish" in str(e.value) and "\n" not in str(e.value)


def test_a_missing_path_or_no_styles_is_one_line() -> None:
    with pytest.raises(ConductorError, match="nowhere.safetensors: no such checkpoint file"):
        resolve_style("nowhere.safetensors")
    with pytest.raises(ConductorError, match="at least one style"):
        resolve_styles(" , ")
