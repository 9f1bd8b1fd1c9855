# The two commands a newcomer needs:
#   make demo   builds attn and runs the tour
#   make test   installs what is missing, configures, builds, runs the whole suite (C++ and Python)
BUILD   ?= build
PYTHON  ?= /usr/bin/python3
JOBS    ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps configure build test demo bench clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DPython3_EXECUTABLE=$(PYTHON) $(CMAKE_FLAGS)

configure: $(BUILD)/build.ninja

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: deps
	@$(MAKE) --no-print-directory build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: deps
	@$(MAKE) --no-print-directory build
	$(BUILD)/apps/attn/attn --version
	$(BUILD)/apps/attn/attn demo

bench: deps
	cmake -S . -B $(BUILD)-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DATTN_BUILD_BENCHMARKS=ON -DPython3_EXECUTABLE=$(PYTHON)
	cmake --build $(BUILD)-bench -j $(JOBS) --target benchmarks
	$(PYTHON) bench/compare.py --build $(BUILD)-bench

clean:
	rm -rf $(BUILD) $(BUILD)-bench
