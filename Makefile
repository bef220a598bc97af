# Attention, from the ground up: every set-up step lives here, so a fresh machine with only
# Python 3 and the package registries needs just `make setup && make book` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Heavy notebook cells read COURSE_BUDGET: "full" for the book, "test" under nbval.
TEST_ENV := COURSE_BUDGET=test MPLBACKEND=Agg PYTHONHASHSEED=0 OMP_NUM_THREADS=1

.PHONY: setup book check-book test exercises train bench clean help screenshot
help:
	@echo "make setup      create .venv and install everything (idempotent)"
	@echo "make book       build the book, executing every chapter -> _build/html/index.html"
	@echo "make check-book open every built page in headless Chromium at 1280 px: fail on"
	@echo "                sideways scrolling, network requests, console errors; screenshots"
	@echo "                in _build/check-book/ (needs chromium: apt-get install chromium)"
	@echo "make test       pytest (library, grader) + nbval (chapters, solutions)"
	@echo "make exercises  regenerate exercises/ from solutions/"
	@echo "make train      train the tiny preset on the CPU (progress bar, checkpoints in runs/tiny)"
	@echo "make bench      run the CPU benchmarks and print their tables"

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $(STAMP)
	@echo "setup done: $(VENV) is ready"

# Executed chapters are cached by their code; a change in course_lib re-executes them all.
BOOK_STAMP := _build/.course_lib_stamp
book: setup
	@if [ -f $(BOOK_STAMP) ] && [ -n "$$(find course_lib -name '*.py' -newer $(BOOK_STAMP))" ]; then \
	    echo "course_lib changed since the last build: re-executing every chapter"; \
	    rm -rf _build/.jupyter_cache; fi
	$(BIN)/jupyter-book build . --all --warningiserror --keep-going
	@touch $(BOOK_STAMP)
	@echo "The book is at $(CURDIR)/_build/html/index.html"

# The last `make book`, as a reader sees it: tools/check_book.py (exit 1 on any problem).
check-book: setup
	$(BIN)/python tools/check_book.py _build/html --out _build/check-book

test: setup
	$(TEST_ENV) $(BIN)/python -m pytest tests book solutions \
	    --nbval-lax --nbval-current-env --nbval-cell-timeout=600 \
	    -p no:cacheprovider -n 2 --dist loadfile

exercises: setup
	$(BIN)/python -m course_lib.grading.exercises solutions exercises

train: setup
	$(BIN)/course-train --preset tiny --out runs/tiny

# CPU benchmarks (several minutes); benchmarks/train_gpu.py needs a CUDA GPU.
bench: setup
	$(BIN)/python benchmarks/attention.py
	$(BIN)/python benchmarks/multihead.py
	$(BIN)/python benchmarks/transformer.py
	$(BIN)/python benchmarks/decoding.py
	$(BIN)/python benchmarks/train_cpu.py

clean:
	rm -rf _build .pytest_cache

# README screenshot: the top 1600 px of chapter 1 as `make check-book` rendered it.
screenshot: setup
	@test -f _build/check-book/01.png || { echo "run make book && make check-book first"; exit 1; }
	$(BIN)/python -c "from PIL import Image; Image.open('_build/check-book/01.png').convert('RGB')\
	    .crop((0, 0, 1280, 1600)).save('book/images/screenshot-chapter1.png', optimize=True)"
