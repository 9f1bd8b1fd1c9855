# The two commands a newcomer needs:
#   make demo   builds attn and runs `attn demo` (trains a small translator in ~5 minutes)
#   make test   installs what is missing, configures, builds, runs the whole suite (C++ and Python)
BUILD   ?= build
PYTHON  ?= /usr/bin/python3
JOBS    ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps configure build test demo bench bench-seq2seq bench-attention bench-transformer clean

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

# The translator against the PyTorch seq2seq tutorial (bench/README.md); SEQ2SEQ_ARGS e.g.
# "--budget 120 --speed-seconds 30" on a busy machine.
bench-seq2seq: deps
	cmake -S . -B $(BUILD)-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DATTN_BUILD_BENCHMARKS=ON -DPython3_EXECUTABLE=$(PYTHON)
	cmake --build $(BUILD)-bench -j $(JOBS) --target bench_seq2seq
	$(PYTHON) bench/seq2seq_compare.py --build $(BUILD)-bench $(SEQ2SEQ_ARGS)

# models::TransformerModel vs torch.nn.Transformer: training and greedy decoding (bench/README.md);
# TRANSFORMER_ARGS e.g. "--seconds 10 --repeat 1".
bench-transformer: deps
	cmake -S . -B $(BUILD)-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DATTN_BUILD_BENCHMARKS=ON -DPython3_EXECUTABLE=$(PYTHON)
	cmake --build $(BUILD)-bench -j $(JOBS) --target bench_transformer
	$(PYTHON) bench/transformer_compare.py --build $(BUILD)-bench $(TRANSFORMER_ARGS)

# Fused attention vs the composed sdpa path vs PyTorch, and nn.MultiheadAttention vs
# torch.nn.MultiheadAttention (bench/README.md); ATTENTION_ARGS e.g. "--sizes 128,1024 --reps 3".
bench-attention: deps
	cmake -S . -B $(BUILD)-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DATTN_BUILD_BENCHMARKS=ON -DPython3_EXECUTABLE=$(PYTHON)
	cmake --build $(BUILD)-bench -j $(JOBS) --target bench_attention
	$(PYTHON) bench/attention.py --build $(BUILD)-bench $(ATTENTION_ARGS)

clean:
	rm -rf $(BUILD) $(BUILD)-bench
