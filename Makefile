# reco: the two commands of the README, and a few more.
#   make run     install dependencies, build, run the main job on the sample data
#   make check   install dependencies, build, run every test (also under ASan+UBSan)
#   make install install the command, the libraries, headers, pkg-config files,
#                man pages and bash completion under PREFIX (/usr/local),
#                staged under DESTDIR when set

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
SAMPLE     ?= data/sample.csv
PREFIX     ?= /usr/local
FUZZ_SECONDS ?= 60
CTEST_FLAGS ?= --output-on-failure

.PHONY: all deps build build-asan run check test test-asan install fuzz bench clean

all: build

deps:
	./scripts/install-deps.sh

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

build-asan:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRECO_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# The main job on the bundled sample data.
run: deps build
	./scripts/demo.sh $(BUILD)/reco $(SAMPLE)

test: build
	cd $(BUILD) && ctest $(CTEST_FLAGS) -j $(JOBS)

test-asan: build-asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest $(CTEST_FLAGS) -j $(JOBS)

check: deps
	$(MAKE) test
	$(MAKE) test-asan

# DESTDIR is read by cmake --install from the environment.
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# Coverage-guided fuzzing with libFuzzer, FUZZ_SECONDS for each target (the
# rating-file parser, the model-file loader, the JSON request body).
fuzz: deps
	./scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

bench: deps build
	./bench/run-all.sh $(BUILD)/reco

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
