# popup — one GNU Makefile, no configure step. `make` builds libpopup and the tools,
# `make check` installs what is missing (make deps), builds and runs every test.

PREFIX   ?= /usr/local
DESTDIR  ?=
BUILD    ?= build
CXX      ?= g++
CXXFLAGS ?= -O2
PYTHON   ?= /usr/bin/python3
# Parallel by default, one job per core, unless the caller chose (-j N or MAKEFLAGS); sub-makes
# share the top level's job server.
ifeq ($(MAKELEVEL)$(filter -j%,$(MAKEFLAGS)),0)
MAKEFLAGS += -j$(shell nproc)
endif

# -ffp-contract=off: no fused multiply-add unless written; weight generation must be
# bit-identical on every x86-64 (formats/generation.md).
POPUP_CXXFLAGS = -std=c++17 $(CXXFLAGS) -Wall -Wextra -Werror -ffp-contract=off -fopenmp \
                 -MMD -MP -Ilib
LDLIBS_CORE    = -ldnnl -lpng -lz -fopenmp

LIB_DIRS  := lib/format lib/net lib/init lib/backend lib/train lib/report lib/data
LIB_SRC   := $(wildcard $(LIB_DIRS:%=%/*.cpp) lib/cpu/*.cpp)
LIB_OBJ   := $(LIB_SRC:%.cpp=$(BUILD)/%.o)
LIB_A     := $(BUILD)/lib/libpopup.a
TOOLS     := $(patsubst tools/%.cpp,$(BUILD)/bin/%,$(wildcard tools/*.cpp))
TEST_SRC  := $(wildcard tests/unit/*.cpp)
TEST_OBJ  := $(TEST_SRC:%.cpp=$(BUILD)/%.o)
TEST_BIN  := $(BUILD)/tests/unit_tests
BENCH_BIN := $(BUILD)/tests/popup-bench

# ---- detection: each component is probed by compiling or running it ----------------------
# $(call probe_cxx,HEADER,FLAGS): 1 when a program including HEADER compiles and links.
probe_cxx = $(shell printf '\043include <$(1)>\nint main(){return 0;}\n' | \
              $(CXX) -std=c++17 -x c++ - -o /dev/null $(2) >/dev/null 2>&1 && echo 1 || echo 0)
HAVE_ZLIB   := $(call probe_cxx,zlib.h,-lz)
HAVE_OPENMP := $(call probe_cxx,omp.h,-fopenmp)
HAVE_CLI11  := $(call probe_cxx,CLI/CLI.hpp,)
HAVE_BOOST_TEST := $(call probe_cxx,boost/test/unit_test.hpp,-DBOOST_TEST_DYN_LINK -lboost_unit_test_framework)
HAVE_ONEDNN := $(call probe_cxx,oneapi/dnnl/dnnl.hpp,-ldnnl)
HAVE_LIBPNG := $(call probe_cxx,png.h,-lpng)
HAVE_MANDOC := $(shell command -v mandoc >/dev/null 2>&1 && echo 1 || echo 0)
HAVE_NUMPY  := $(shell $(PYTHON) -c 'import numpy' >/dev/null 2>&1 && echo 1 || echo 0)
mark = $(if $(filter 1,$(1)),✓,✗)

# The CUDA backend, libpopup-cuda.so (DESIGN.md §7): built when nvcc, cuDNN and cuBLAS are
# found (scripts/find-cuda.sh: $$CUDA_HOME, $$CUDNN_HOME, then the usual places); CUDA=0 skips it.
CUDA ?= 1
ifneq ($(CUDA),0)
$(foreach v,$(shell CUDA_HOME='$(CUDA_HOME)' CUDNN_HOME='$(CUDNN_HOME)' PYTHON='$(PYTHON)' \
                    scripts/find-cuda.sh),$(eval $(v)))
endif
HAVE_CUDA := $(if $(filter 0,$(CUDA)),0,$(if $(CUDA_WHY),0,1))
CUDA_STATUS = $(strip $(if $(filter 0,$(CUDA)),skipped (CUDA=0),$(if $(CUDA_WHY),not built: $(subst _, ,$(CUDA_WHY)),\
  nvcc $(NVCC) and cuDNN $(shell sed -nE 's/^.define CUDNN_(MAJOR|MINOR|PATCHLEVEL) +([0-9]+).*/\2/p' \
  $(CUDNN_INC)/cudnn_version.h 2>/dev/null | paste -sd.) in $(CUDNN_LIB))))
PLUGIN     := $(BUILD)/lib/popup/libpopup-cuda.so
# DT_RPATH rather than RUNPATH: it also serves the libraries cuDNN opens itself (its engines).
# The library code the plugin runs itself, compiled again as position-independent code.
PLUGIN_CPP := $(wildcard lib/cuda/*.cpp) lib/backend/network_graph.cpp lib/train/softmax_cross_entropy.cpp \
              lib/train/score_engine_host.cpp lib/train/topk.cpp lib/train/optimizer.cpp lib/data/data_split.cpp
PLUGIN_CU  := $(wildcard lib/cuda/*.cu)
PLUGIN_OBJ := $(PLUGIN_CPP:%.cpp=$(BUILD)/pic/%.o) $(PLUGIN_CU:%.cu=$(BUILD)/pic/%.cu.o)
# sm_80 (A100), sm_90 (H100/H200) and PTX for newer GPUs. -fmad=false: no contraction into
# fused multiply-adds, as on the host (-ffp-contract=off), so the score update matches the CPU.
NVCC_FLAGS := -std=c++17 -O2 -fmad=false -Ilib -gencode arch=compute_80,code=sm_80 \
              -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90 \
              -Xcompiler -fPIC,-Wall,-Wextra,-Werror -MMD -MP
PLUGIN_CXXFLAGS = $(POPUP_CXXFLAGS) -fPIC -isystem $(CUDA_INC) -isystem $(CUDNN_INC) -isystem $(CUBLAS_INC)
PLUGIN_LIBS = -L$(CUDNN_LIB) -l:$(CUDNN_SO) -L$(CUBLAS_LIB) -l:$(CUBLAS_SO) $(subst $(comma), ,$(CUDART)) \
              -ldl -lrt -lpthread -fopenmp -Wl,--disable-new-dtags,-rpath,$(CUDNN_LIB):$(CUBLAS_LIB)
comma := ,

.PHONY: all config check demo install clean deps test-run bench gpu-check
.DEFAULT_GOAL := all

all: config $(LIB_A) $(TOOLS) $(BENCH_BIN) $(if $(filter 1,$(HAVE_CUDA)),$(PLUGIN))

config:
	@echo "popup build configuration:"
	@echo "  $(call mark,$(HAVE_ZLIB)) zlib            (required: CRC-32, .gz data)"
	@echo "  $(call mark,$(HAVE_OPENMP)) OpenMP          (required: parallel generation)"
	@echo "  $(call mark,$(HAVE_CLI11)) CLI11           (required: the tools' options)"
	@echo "  $(call mark,$(HAVE_BOOST_TEST)) Boost.Test      (make check: unit tests)"
	@echo "  $(call mark,$(HAVE_ONEDNN)) oneDNN          (required: the CPU backend)"
	@echo "  $(call mark,$(HAVE_LIBPNG)) libpng          (required: png: data sets)"
	@echo "  $(call mark,$(HAVE_MANDOC)) mandoc          (make check: man page lint)"
	@echo "  $(call mark,$(HAVE_NUMPY)) python3-numpy   (make check: independent safetensors reader)"
	@echo "  $(call mark,$(HAVE_CUDA)) CUDA backend    ($(CUDA_STATUS))"
	@if [ "$(HAVE_ZLIB)$(HAVE_OPENMP)$(HAVE_CLI11)$(HAVE_ONEDNN)$(HAVE_LIBPNG)" != 11111 ]; then \
	  echo "popup: required components missing: run 'make deps' as root"; exit 1; fi

$(BUILD)/%.o: %.cpp | config
	@mkdir -p $(@D)
	$(CXX) $(POPUP_CXXFLAGS) -c $< -o $@

$(BUILD)/pic/%.o: %.cpp | config
	@mkdir -p $(@D)
	$(CXX) $(PLUGIN_CXXFLAGS) -c $< -o $@

$(BUILD)/pic/%.cu.o: %.cu | config
	@mkdir -p $(@D)
	$(NVCC) $(NVCC_FLAGS) -isystem $(CUDNN_INC) -c $< -o $@

$(PLUGIN): $(PLUGIN_OBJ) lib/cuda/plugin.map
	@mkdir -p $(@D)
	$(CXX) -shared -o $@ $(PLUGIN_OBJ) -Wl,--version-script=lib/cuda/plugin.map -Wl,--no-undefined \
	  $(PLUGIN_LIBS)

$(LIB_A): $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/%: $(BUILD)/tools/%.o $(LIB_A)
	@mkdir -p $(@D)
	$(CXX) $(POPUP_CXXFLAGS) $< $(LIB_A) $(LDLIBS_CORE) -o $@

BENCH_OBJ := $(patsubst %.cpp,$(BUILD)/%.o,$(wildcard tests/bench/*.cpp))
$(BENCH_BIN): $(BENCH_OBJ) $(LIB_A)
	@mkdir -p $(@D)
	$(CXX) $(POPUP_CXXFLAGS) $(BENCH_OBJ) $(LIB_A) $(LDLIBS_CORE) -o $@

$(BUILD)/tests/unit/%.o: POPUP_CXXFLAGS += -DBOOST_TEST_DYN_LINK
$(TEST_BIN): $(TEST_OBJ) $(LIB_A)
	@mkdir -p $(@D)
	$(CXX) $(POPUP_CXXFLAGS) $(TEST_OBJ) $(LIB_A) -lboost_unit_test_framework $(LDLIBS_CORE) -o $@

# ---- the public targets -------------------------------------------------------------------
deps:
	@scripts/install-deps.sh

check: deps
	@$(MAKE) --no-print-directory test-run

test-run: all $(TEST_BIN)
	@BUILD=$(BUILD) PYTHON=$(PYTHON) tests/run-all.sh

# Throughput of the standard workloads beside the machine's measured fp32 limit (a few
# minutes; never part of check). Compare two runs: scripts/bench-compare.py OLD.json NEW.json
bench: all
	$(BENCH_BIN) --json $(BUILD)/bench.json $(BENCH_ARGS)
	@echo "bench: results in $(BUILD)/bench.json"

# On a machine with an NVIDIA GPU and a CUDA toolkit: build, parity tests, conv4 on the GPU
# against the CPU, benchmark against PyTorch; results in $(BUILD)/gpu-check/results.md.
gpu-check:
	@BUILD=$(BUILD) scripts/gpu-check.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) examples/demo.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin
	$(if $(filter 1,$(HAVE_CUDA)),install -D -m 755 $(PLUGIN) $(DESTDIR)$(PREFIX)/lib/popup/libpopup-cuda.so)
	install -m 644 $(wildcard man/man1/*.1) $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 $(wildcard man/man5/*.5) $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 644 $(wildcard man/man7/*.7) $(DESTDIR)$(PREFIX)/share/man/man7

clean:
	rm -rf $(BUILD)

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BENCH_OBJ:.o=.d) $(TOOLS:$(BUILD)/bin/%=$(BUILD)/tools/%.d) $(PLUGIN_OBJ:.o=.d)
.SECONDARY:
