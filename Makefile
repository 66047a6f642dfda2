# bsdelta top-level entry points. Each target installs what it needs (Debian 12, as root),
# configures and builds, then runs. See README.md.
MAKEFLAGS += --no-print-directory
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
ASAN_BUILD ?= build-asan

.PHONY: all deps build test test-sanitize demo bench bench-quick fuzz clean

all: build

deps:
	@scripts/setup-deps.sh test

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# The whole test suite (ctest), normal build.
test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The same suite built with clang, AddressSanitizer and UndefinedBehaviorSanitizer.
test-sanitize: deps
	@CC=clang cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DBSDELTA_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

demo: build
	@scripts/demo.sh $(BUILD)

bench: build
	@scripts/setup-deps.sh bench
	@bench/run.sh --build $(BUILD)

bench-quick: build
	@scripts/setup-deps.sh bench
	@bench/run.sh --build $(BUILD) --quick

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
