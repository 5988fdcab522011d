# Thin wrapper: every target installs missing Debian packages first.
#   make demo    build, then `dine demo` on the local stack
#   make test    build, then every test (unit, integration, e2e) through ctest
#   make build   release build in build/
#   make bench   benchmarks against their anchors (wrk + nginx, pgbench, redis-benchmark)
#   make debug   ASan + UBSan build in build-debug/ and its tests
BUILD   ?= build
JOBS    ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: deps build demo test bench debug clean

deps:
	@bash scripts/install-deps.sh

$(BUILD)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	$(BUILD)/dine demo

test: build
	ctest --test-dir $(BUILD) --output-on-failure --timeout 900

bench: build
	DINE=$(BUILD)/dine bash bench/http/run.sh
	DINE=$(BUILD)/dine bash bench/order/run.sh
	DINE=$(BUILD)/dine bash bench/menu/run.sh
	DINE=$(BUILD)/dine bash bench/stack/run.sh
	DINE=$(BUILD)/dine bash bench/health/run.sh
	DINE=$(BUILD)/dine bash bench/prewarm/run.sh

debug: deps
	cmake --preset debug
	cmake --build --preset debug -j $(JOBS)
	ctest --preset debug

clean:
	rm -rf $(BUILD) build-debug
