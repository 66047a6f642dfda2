# bsdelta top-level entry points. Each target installs what it needs (Debian 12, as root),
# configures and builds, then runs. See README.md.
MAKEFLAGS += --no-print-directory
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
ASAN_BUILD ?= build-asan

.PHONY: all deps build test test-sanitize test-arm demo bench bench-quick fuzz clean

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

# The on-device code (bspatch library, client library) cross-built for 64-bit and 32-bit ARM
# with Debian's cross compilers against a Debian sysroot (scripts/arm-sysroot.sh), its tests run
# under qemu-user; one summary line per architecture. `make test-arm-arm64` does one of them.
ARM_BUILD ?= build-arm
ARM_JOBS ?= 2
ARM_ARCHES ?= arm64 armhf
ARM_TRIPLET_arm64 := aarch64-linux-gnu
ARM_TRIPLET_armhf := arm-linux-gnueabihf
# Hook for the device client library (pkgtool/: target pkgclient_lib, tests tests/client/ named
# client_*): when the tree declares the option BSDELTA_BUILD_CLIENT, the device build turns it
# on, and ctest runs whatever tests it registers.
ARM_CLIENT := $(shell grep -qs 'option.BSDELTA_BUILD_CLIENT ' CMakeLists.txt pkgtool/CMakeLists.txt && echo -DBSDELTA_BUILD_CLIENT=ON)

test-arm:
	@scripts/setup-deps.sh build
	@t0=$$(date +%s); fail=0; \
	for a in $(ARM_ARCHES); do $(MAKE) test-arm-$$a || fail=1; done; \
	echo "== make test-arm: $$(($$(date +%s) - t0)) s"; \
	for a in $(ARM_ARCHES); do cat $(ARM_BUILD)/summary-$$a.txt 2>/dev/null || echo "$$a: FAILED"; done; \
	exit $$fail

test-arm-%:
	@rm -f $(ARM_BUILD)/summary-$*.txt
	@BSDELTA_ARM_DIR=$(ARM_BUILD) scripts/arm-sysroot.sh $*
	@t0=$$(date +%s); b=$(ARM_BUILD)/$*; sysroot=$(abspath $(ARM_BUILD))/sysroot-$*; \
	cmake -S . -B $$b -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-$(if $(filter arm64,$*),aarch64,$*).cmake \
	  -DBSDELTA_SYSROOT=$$sysroot -DBSDELTA_BUILD_TOOLS=OFF $(ARM_CLIENT) -DCMAKE_BUILD_TYPE=Release >/dev/null || exit 1; \
	echo "$*: bspatch library, -std=c11 -pedantic -Wall -Wextra -Werror"; \
	$(ARM_TRIPLET_$*)-gcc --sysroot=$$sysroot -std=c11 -pedantic -Wall -Wextra -Werror -fsyntax-only \
	  -Ibspatch/include bspatch/src/*.c || exit 1; \
	cmake --build $$b -j $(ARM_JOBS) || exit 1; \
	(cd $$b && ctest --output-on-failure -j $(ARM_JOBS); echo $$? >ctest.rc) | tee $$b/ctest.log; \
	run=$$(sed -n 's/.*tests passed, \([0-9]*\) tests\{0,1\} failed out of \([0-9]*\)$$/\2 \1/p' $$b/ctest.log); \
	set -- $${run:-0 0}; \
	notrun=$$(grep -cE '^[[:space:]]+[0-9]+ - .* \((Disabled|Skipped)\)' $$b/ctest.log); \
	client=$$(cd $$b && ctest -N -R '^client_' | sed -n 's/^Total Tests: //p'); \
	[ -n "$$(find $$b -name 'libpkgclient*' -print -quit)" ] && client="built, $$client client_ tests" || client="not built"; \
	[ "$$(cat $$b/ctest.rc)" = 0 ] && [ "$$1" -gt 0 ] && ok=ok || ok=FAILED; \
	echo "test-arm $* ($(ARM_TRIPLET_$*) under qemu-user): $$ok, $$(($$1 - $$2)) tests passed, $$2 failed, $$notrun not run; client library $$client; $$(($$(date +%s) - t0)) s" | \
	  tee $(ARM_BUILD)/summary-$*.txt; \
	[ $$ok = ok ]

# The release flow on corpus/sample-app, then a device updating over HTTP (nginx) with a rollback.
demo: build
	@scripts/demo.sh $(BUILD)
	@scripts/demo-device.sh $(BUILD)

bench: build
	@scripts/setup-deps.sh bench
	@bench/run.sh --build $(BUILD)

bench-quick: build
	@scripts/setup-deps.sh bench
	@bench/run.sh --build $(BUILD) --quick

# libFuzzer (clang, ASan + UBSan): every target for FUZZ_SECONDS each, starting from the committed
# corpora; new inputs go to build-fuzz/work-TARGET (merge them with -merge=1 by hand).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= bsdelta bsdiff40 deflate index bundle
fuzz: deps
	@CC=clang cmake -S . -B build-fuzz -DBSDELTA_FUZZ=ON -DBSDELTA_BUILD_TOOLS=OFF \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do mkdir -p build-fuzz/work-$$t; \
	  TMPDIR=/dev/shm build-fuzz/tests/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
	    -rss_limit_mb=2048 -print_final_stats=1 build-fuzz/work-$$t tests/fuzz/corpus/$$t \
	    2>build-fuzz/fuzz-$$t.log || { tail -40 build-fuzz/fuzz-$$t.log; exit 1; }; \
	  echo "fuzz_$$t: $$(grep -h 'stat::number_of_executed_units' build-fuzz/fuzz-$$t.log | awk '{print $$2}') runs in $(FUZZ_SECONDS) s, nothing found"; \
	done

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-arm build-fuzz
