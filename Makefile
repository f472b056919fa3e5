# tinhso: `make run` starts the demo platform, `make test` runs every test.
# Both install what is missing first (scripts/setup, Debian 12 packages).
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo
FUZZ_SECONDS ?= 60

.PHONY: all setup build run test unit e2e e2e-sqlite e2e-postgres asan fuzz bench format clean

all: build

setup:
	@scripts/setup

build: setup
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS) 2>&1 | grep -v '^\[\|^gmake\|Built target\|Scanning\|Consolidate' || true
	@test -x $(BUILD)/tinhso

run: build
	@scripts/run-demo $(BUILD)

test: build
	@scripts/test-all $(BUILD)

unit: build
	@cd $(BUILD) && ctest --output-on-failure

e2e-sqlite: build
	@TINHSO_TEST_BACKEND=sqlite scripts/test-e2e $(BUILD)

e2e-postgres: build
	@TINHSO_TEST_BACKEND=postgres scripts/test-e2e $(BUILD)

e2e: e2e-sqlite e2e-postgres

# AddressSanitizer + UndefinedBehaviorSanitizer build running the unit and end-to-end tests.
asan: setup
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTINHSO_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j$(JOBS) 2>&1 | grep -E 'error|warning' || true
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure
	@ASAN_OPTIONS=detect_leaks=0 TINHSO_TEST_BACKEND=sqlite scripts/test-e2e build-asan

# libFuzzer targets for a bounded time each: make fuzz FUZZ_SECONDS=60
fuzz: setup
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DTINHSO_FUZZ=ON -DTINHSO_WERROR=OFF >/dev/null
	@cmake --build build-fuzz -j$(JOBS) 2>&1 | grep -E 'error' || true
	@scripts/run-fuzz build-fuzz $(FUZZ_SECONDS)

bench: build
	@bench/run $(BUILD)

format:
	@clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'bench/*.c')

clean:
	rm -rf $(BUILD) build-asan build-fuzz
