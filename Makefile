# popup — one GNU Makefile, no configure step. `make` builds libpopup and the tools,
# `make check` installs what is missing (make deps), builds and runs every test.

PREFIX   ?= /usr/local
DESTDIR  ?=
# SANITIZE=1: everything built with AddressSanitizer and UndefinedBehaviorSanitizer, in its own
# build folder, CUDA plugin skipped; SANITIZE=thread: ThreadSanitizer likewise.
SANITIZE ?=
BUILD_SANITIZE_1      := build/sanitize
BUILD_SANITIZE_thread := build/tsan
BUILD    ?= $(or $(BUILD_SANITIZE_$(SANITIZE)),build)
CXX      ?= g++
CXXFLAGS ?= -O2
PYTHON   ?= /usr/bin/python3
CUDA     ?= 1
CLANG_FORMAT ?= clang-format
# Parallel by default, one job per core, unless the caller chose (-j N or MAKEFLAGS); sub-makes
# share the top level's job server.
ifeq ($(MAKELEVEL)$(filter -j%,$(MAKEFLAGS)),0)
MAKEFLAGS += -j$(shell nproc)
endif

# -ffp-contract=off: no fused multiply-add unless written; weight generation must be
# bit-identical on every x86-64 (formats/generation.md).
POPUP_CXXFLAGS = -std=c++17 $(CXXFLAGS) -Wall -Wextra -Werror -ffp-contract=off -fopenmp \
                 -MMD -MP -Ilib
LDLIBS_CORE    = -ldnnl -lpng -ljpeg -lz -fopenmp
SANITIZE_FLAGS_1      := -fsanitize=address,undefined -fno-sanitize-recover=undefined
SANITIZE_FLAGS_thread := -fsanitize=thread
ifneq ($(SANITIZE),)
ifeq ($(SANITIZE_FLAGS_$(SANITIZE)),)
$(error SANITIZE=$(SANITIZE): give SANITIZE=1 (address, undefined) or SANITIZE=thread)
endif
override CUDA := 0
POPUP_CXXFLAGS += $(SANITIZE_FLAGS_$(SANITIZE)) -fno-omit-frame-pointer -g
endif
# TSan cannot instrument the ifunc resolvers of target_clones (they run before its runtime starts).
ifeq ($(SANITIZE),thread)
$(BUILD)/lib/init/weights_generate.o: POPUP_CXXFLAGS += -fno-sanitize=thread
endif

LIB_DIRS  := lib/format lib/net lib/init lib/backend lib/train lib/report lib/data lib/dist lib/export
LIB_SRC   := $(wildcard $(LIB_DIRS:%=%/*.cpp) lib/cpu/*.cpp)
LIB_OBJ   := $(LIB_SRC:%.cpp=$(BUILD)/%.o)
LIB_A     := $(BUILD)/lib/libpopup.a
TOOLS     := $(patsubst tools/%.cpp,$(BUILD)/bin/%,$(wildcard tools/*.cpp))
TEST_SRC  := $(wildcard tests/unit/*.cpp)
TEST_OBJ  := $(TEST_SRC:%.cpp=$(BUILD)/%.o)
TEST_BIN  := $(BUILD)/tests/unit_tests
BENCH_BIN := $(BUILD)/tests/popup-bench
# Fuzz targets (tests/fuzz/fuzz_NAME.cpp): built with g++ and a replay main for make check,
# with clang and libFuzzer for make fuzz.
FUZZ_NAMES  := $(patsubst tests/fuzz/fuzz_%.cpp,%,$(wildcard tests/fuzz/fuzz_*.cpp))
REPLAY_BINS := $(FUZZ_NAMES:%=$(BUILD)/fuzz-replay/%)
FUZZ_BUILD  := $(BUILD)/fuzz

# ---- detection: each component is probed by compiling or running it --------------------------
# The probes run once and are cached in $(CONFIG), made again when the Makefile, find-cuda.sh or
# the installed packages (/var/lib/dpkg/status) change, when a setting in CONFIG_KEY differs from
# the cached run's, or while a compiled probe fails (a component is being installed). Goals that
# build nothing (clean, help, deps, format, gpu-check; check, demo and fuzz run a sub-make) skip
# them.
CONFIG     := $(BUILD)/config.mk
CONFIG_KEY := CXX=$(CXX) CUDA=$(CUDA) CUDA_HOME=$(CUDA_HOME) CUDNN_HOME=$(CUDNN_HOME) \
              PYTHON=$(PYTHON) CPATH=$(CPATH) LIBRARY_PATH=$(LIBRARY_PATH) \
              PKG_CONFIG_PATH=$(PKG_CONFIG_PATH)
NO_PROBES  := clean help deps deps-fuzz format gpu-check check demo fuzz $(FUZZ_BUILD)/%
ifneq ($(filter-out $(NO_PROBES),$(or $(MAKECMDGOALS),all)),)
-include $(CONFIG)
CONFIG_FOUND = $(HAVE_ZLIB)$(HAVE_OPENMP)$(HAVE_CLI11)$(HAVE_BOOST_TEST)$(HAVE_ONEDNN)$(HAVE_LIBPNG)$(HAVE_LIBJPEG)
# Once per make: after making config.mk, make reads the makefiles again (MAKE_RESTARTS set).
ifeq ($(MAKE_RESTARTS),)
ifneq '$(CONFIG_KEY) 1111111' '$(CONFIG_KEY_DONE) $(CONFIG_FOUND)'
$(CONFIG): config-stale
endif
endif
endif
# $(call probe_cxx,NAME,HEADER,FLAGS): a line NAME := 1 when a program including HEADER compiles
# and links, else NAME := 0.
probe_cxx = echo "$(1) := $$(printf '\043include <$(2)>\nint main(){return 0;}\n' | \
              $(CXX) -std=c++17 -x c++ - -o /dev/null $(3) >/dev/null 2>&1 && echo 1 || echo 0)"
# $(call probe_sh,NAME,COMMAND): NAME := 1 when COMMAND succeeds, else NAME := 0.
probe_sh  = echo "$(1) := $$($(2) >/dev/null 2>&1 && echo 1 || echo 0)"
BOOST_TEST_FLAGS := -DBOOST_TEST_DYN_LINK -lboost_unit_test_framework
# ONNX's protobuf classes (libonnx-dev, libprotobuf-dev), as Debian's ONNX CMake package defines them.
ONNX_FLAGS := -DONNX_ML=1 -DONNX_NAMESPACE=onnx
ONNX_LIBS  := -lonnx_proto -lprotobuf

$(CONFIG): Makefile scripts/find-cuda.sh $(wildcard /var/lib/dpkg/status)
	@mkdir -p $(@D)
	@{ echo '# made by the Makefile: the probes of its configuration (make config prints them)'; \
	  echo 'CONFIG_KEY_DONE := $(CONFIG_KEY)'; \
	  $(call probe_cxx,HAVE_ZLIB,zlib.h,-lz); \
	  $(call probe_cxx,HAVE_OPENMP,omp.h,-fopenmp); \
	  $(call probe_cxx,HAVE_CLI11,CLI/CLI.hpp,); \
	  $(call probe_cxx,HAVE_BOOST_TEST,boost/test/unit_test.hpp,$(BOOST_TEST_FLAGS)); \
	  $(call probe_cxx,HAVE_ONEDNN,oneapi/dnnl/dnnl.hpp,-ldnnl); \
	  $(call probe_cxx,HAVE_LIBPNG,png.h,-lpng); \
	  $(call probe_cxx,HAVE_LIBJPEG,jpeglib.h,-include cstdio -ljpeg); \
	  $(call probe_cxx,HAVE_MPI,mpi.h,-DOMPI_SKIP_MPICXX $$(pkg-config --cflags --libs ompi-c 2>/dev/null)); \
	  echo "MPI_CFLAGS := $$(pkg-config --cflags ompi-c 2>/dev/null)"; \
	  echo "MPI_LIBS := $$(pkg-config --libs ompi-c 2>/dev/null)"; \
	  echo "MPI_VERSION := $$(pkg-config --modversion ompi-c 2>/dev/null)"; \
	  $(call probe_cxx,HAVE_ONNX,onnx/onnx_pb.h,$(ONNX_FLAGS) $(ONNX_LIBS)); \
	  $(call probe_sh,HAVE_MANDOC,command -v mandoc); \
	  $(call probe_sh,HAVE_NUMPY,$(PYTHON) -c 'import numpy'); \
	  [ "$(CUDA)" = 0 ] || CUDA_HOME='$(CUDA_HOME)' CUDNN_HOME='$(CUDNN_HOME)' PYTHON='$(PYTHON)' \
	    scripts/find-cuda.sh | sed 's/=/ := /'; } >$@.tmp && mv $@.tmp $@
.PHONY: config-stale
mark = $(if $(filter 1,$(1)),✓,✗)

# The CUDA backend, libpopup-cuda.so (DESIGN.md §7): built when nvcc, cuDNN and cuBLAS are
# found (scripts/find-cuda.sh: $$CUDA_HOME, $$CUDNN_HOME, then the usual places); CUDA=0 skips it.
HAVE_CUDA := $(if $(filter 0,$(CUDA)),0,$(if $(CUDA_WHY),0,1))
CUDA_STATUS = $(strip $(if $(filter 0,$(CUDA)),skipped (CUDA=0),$(if $(CUDA_WHY),not built: $(subst _, ,$(CUDA_WHY)),\
  nvcc $(NVCC) and cuDNN $(CUDNN_VERSION) in $(CUDNN_LIB))))
PLUGIN     := $(BUILD)/lib/popup/libpopup-cuda.so
# Its own sources, lib/cuda/; the library code it runs comes from libpopup.a, whose objects are
# position-independent for it (the linker takes only the members the plugin needs).
PLUGIN_SRC := $(wildcard lib/cuda/*.cpp lib/cuda/*.cu)
PLUGIN_OBJ := $(patsubst %,$(BUILD)/%.o,$(PLUGIN_SRC:.cpp=))
# sm_80 (A100), sm_90 (H100/H200) and PTX for newer GPUs. -fmad=false: no contraction into
# fused multiply-adds, as on the host (-ffp-contract=off), so the score update matches the CPU.
NVCC_FLAGS := -std=c++17 -O2 -fmad=false -Ilib -gencode arch=compute_80,code=sm_80 \
              -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90 \
              -Xcompiler -fPIC,-Wall,-Wextra,-Werror -MMD -MP
$(BUILD)/lib/%.o: POPUP_CXXFLAGS += -fPIC
# The image resize's integer loops: about 10% more images/s with -O3 and unrolling (exact
# integer arithmetic, so the pixels are the same).
$(BUILD)/lib/data/image_transform.o: POPUP_CXXFLAGS += -O3 -funroll-loops
# popup's F(4x4) tile transforms, one file per instruction set (winograd_f4x3_transforms.hpp),
# each called only where the CPU has it.
$(BUILD)/lib/cpu/winograd_f4x3_transforms_avx2.o: POPUP_CXXFLAGS += -mavx2 -mfma
$(BUILD)/lib/cpu/winograd_f4x3_transforms_avx512.o: POPUP_CXXFLAGS += -mavx512f -mavx2 -mfma
$(BUILD)/lib/cuda/%.o: POPUP_CXXFLAGS += -isystem $(CUDA_INC) -isystem $(CUDNN_INC) \
                                         -isystem $(CUBLAS_INC)
# DT_RPATH rather than RUNPATH: it also serves the libraries cuDNN opens itself (its engines).
PLUGIN_LIBS = -L$(CUDNN_LIB) -l:$(CUDNN_SO) -L$(CUBLAS_LIB) -l:$(CUBLAS_SO) $(subst $(comma), ,$(CUDART)) \
              -ldl -lrt -lpthread -fopenmp -Wl,--disable-new-dtags,-rpath,$(CUDNN_LIB):$(CUBLAS_LIB)
comma := ,

# The MPI plugin, libpopup-mpi.so (DESIGN.md §8): built where Open MPI's mpi.h and libmpi are
# found (pkg-config ompi-c, from libopenmpi-dev); not in SANITIZE builds, where Open MPI's own
# leaks and threads would bury the sanitizers' reports.
BUILD_MPI  := $(if $(SANITIZE),0,$(if $(filter 1,$(HAVE_MPI)),1,0))
MPI_STATUS = $(strip $(if $(SANITIZE),not built: SANITIZE builds skip it,$(if $(filter 1,$(HAVE_MPI)),\
  Open MPI $(MPI_VERSION): libpopup-mpi.so,not built: libopenmpi-dev not found)))
MPI_PLUGIN := $(BUILD)/lib/popup/libpopup-mpi.so
MPI_PLUGIN_OBJ := $(patsubst %.cpp,$(BUILD)/%.o,$(wildcard lib/mpi/*.cpp))
$(BUILD)/lib/mpi/%.o: POPUP_CXXFLAGS += -DOMPI_SKIP_MPICXX $(MPI_CFLAGS:-I%=-isystem %)
# popup-export --format onnx (DESIGN.md §14): the ONNX writer uses ONNX's protobuf classes where
# libonnx-dev and libprotobuf-dev are found; without them popup-export writes the other formats.
$(BUILD)/lib/export/onnx_export.o: POPUP_CXXFLAGS += -DPOPUP_HAVE_ONNX=$(HAVE_ONNX) \
  $(if $(filter 1,$(HAVE_ONNX)),$(ONNX_FLAGS))
$(BUILD)/bin/popup-export: LDLIBS_TOOL = $(if $(filter 1,$(HAVE_ONNX)),$(ONNX_LIBS))
# A test and benchmark of the communicator under mpirun (make test-run builds it; it links no MPI).
COMM_CHECK := $(BUILD)/tests/comm-check

.PHONY: all config check demo install clean deps deps-fuzz test-run bench bench-imagenet bench-data-parallel bench-peers \
        gpu-check help format fuzz \
        image-dump
.DEFAULT_GOAL := all

all: config $(LIB_A) $(TOOLS) $(BENCH_BIN) $(if $(filter 1,$(HAVE_CUDA)),$(PLUGIN)) \
     $(if $(filter 1,$(BUILD_MPI)),$(MPI_PLUGIN))

config:
	@echo "popup build configuration:"
	@echo "  $(call mark,$(HAVE_ZLIB)) zlib            (required: CRC-32, .gz data)"
	@echo "  $(call mark,$(HAVE_OPENMP)) OpenMP          (required: parallel generation)"
	@echo "  $(call mark,$(HAVE_CLI11)) CLI11           (required: the tools' options)"
	@echo "  $(call mark,$(HAVE_BOOST_TEST)) Boost.Test      (make check: unit tests)"
	@echo "  $(call mark,$(HAVE_ONEDNN)) oneDNN          (required: the CPU backend)"
	@echo "  $(call mark,$(HAVE_LIBPNG)) libpng          (required: png: data sets)"
	@echo "  $(call mark,$(HAVE_LIBJPEG)) libjpeg-turbo   (required: images: data sets)"
	@echo "  $(call mark,$(HAVE_MANDOC)) mandoc          (make check: man page lint)"
	@echo "  $(call mark,$(HAVE_NUMPY)) python3-numpy   (make check: independent safetensors reader)"
	@echo "  $(call mark,$(HAVE_CUDA)) CUDA backend    ($(CUDA_STATUS))"
	@echo "  $(call mark,$(BUILD_MPI)) MPI             ($(MPI_STATUS))"
	@echo "  $(call mark,$(HAVE_ONNX)) ONNX            ($(if $(filter 1,$(HAVE_ONNX)),popup-export --format onnx,not built: libonnx-dev or libprotobuf-dev not found))"
	@if [ "$(HAVE_ZLIB)$(HAVE_OPENMP)$(HAVE_CLI11)$(HAVE_ONEDNN)$(HAVE_LIBPNG)$(HAVE_LIBJPEG)" != 111111 ]; then \
	  echo "popup: required components missing: run 'make deps' as root"; exit 1; fi

$(BUILD)/%.o: %.cpp | config
	@mkdir -p $(@D)
	$(CXX) $(POPUP_CXXFLAGS) -c $< -o $@

$(BUILD)/%.cu.o: %.cu | config
	@mkdir -p $(@D)
	$(NVCC) $(NVCC_FLAGS) -isystem $(CUDNN_INC) -c $< -o $@

$(PLUGIN): $(PLUGIN_OBJ) $(LIB_A) lib/cuda/plugin.map
	@mkdir -p $(@D)
	$(CXX) -shared -o $@ $(PLUGIN_OBJ) $(LIB_A) -Wl,--version-script=lib/cuda/plugin.map \
	  -Wl,--no-undefined $(PLUGIN_LIBS)

$(MPI_PLUGIN): $(MPI_PLUGIN_OBJ) lib/mpi/plugin.map
	@mkdir -p $(@D)
	$(CXX) -shared -o $@ $(MPI_PLUGIN_OBJ) -Wl,--version-script=lib/mpi/plugin.map -Wl,--no-undefined \
	  $(MPI_LIBS)

$(LIB_A): $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/%: $(BUILD)/tools/%.o $(LIB_A)
	@mkdir -p $(@D)
	$(CXX) $(POPUP_CXXFLAGS) $< $(LIB_A) $(LDLIBS_TOOL) $(LDLIBS_CORE) -o $@

BENCH_OBJ := $(patsubst %.cpp,$(BUILD)/%.o,$(wildcard tests/bench/*.cpp))
$(BENCH_BIN): $(BENCH_OBJ) $(LIB_A)
	@mkdir -p $(@D)
	$(CXX) $(POPUP_CXXFLAGS) $(BENCH_OBJ) $(LIB_A) $(LDLIBS_CORE) -o $@

$(BUILD)/tests/unit/%.o: POPUP_CXXFLAGS += -DBOOST_TEST_DYN_LINK
$(TEST_BIN): $(TEST_OBJ) $(LIB_A)
	@mkdir -p $(@D)
	$(CXX) $(POPUP_CXXFLAGS) $(TEST_OBJ) $(LIB_A) -lboost_unit_test_framework $(LDLIBS_CORE) -o $@

$(REPLAY_BINS): $(BUILD)/fuzz-replay/%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/support.o \
                 $(BUILD)/tests/fuzz/replay_main.o $(LIB_A)
	@mkdir -p $(@D)
	$(CXX) $(POPUP_CXXFLAGS) $^ $(LDLIBS_CORE) -o $@

# A developer tool for scripts/pil-compare.py (make image-dump; never built by all or check).
IMAGE_DUMP := $(BUILD)/tests/image-dump
$(IMAGE_DUMP): $(BUILD)/tests/tools/image-dump.o $(LIB_A)
	@mkdir -p $(@D)
	$(CXX) $(POPUP_CXXFLAGS) $< $(LIB_A) $(LDLIBS_CORE) -o $@
image-dump: $(IMAGE_DUMP)

$(COMM_CHECK): $(BUILD)/tests/tools/comm-check.o $(LIB_A)
	@mkdir -p $(@D)
	$(CXX) $(POPUP_CXXFLAGS) $< $(LIB_A) $(LDLIBS_CORE) -o $@

# ---- libFuzzer (make fuzz): clang; the library's readers and what they use (no backend, no
# training), instrumented for coverage and the sanitizers.
FUZZ_CXX    ?= clang++-14
FUZZ_FLAGS  := -std=c++17 -O1 -g -fno-omit-frame-pointer -fopenmp -Wall -Wextra -Werror \
               -Wno-pass-failed -MMD -MP -Ilib
FUZZ_SAN    := address,undefined -fno-sanitize-recover=undefined
FUZZ_LIB    := $(FUZZ_BUILD)/libpopup-readers.a
FUZZ_DIRS   := lib/format lib/net lib/init lib/data
FUZZ_OBJ    := $(patsubst %.cpp,$(FUZZ_BUILD)/%.o,$(wildcard $(FUZZ_DIRS:%=%/*.cpp)))
FUZZ_BINS   := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/%)
$(FUZZ_BUILD)/%.o: %.cpp
	@mkdir -p $(@D)
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link,$(FUZZ_SAN) -c $< -o $@
$(FUZZ_LIB): $(FUZZ_OBJ)
	rm -f $@ && ar rcs $@ $^
$(FUZZ_BINS): $(FUZZ_BUILD)/%: $(FUZZ_BUILD)/tests/fuzz/fuzz_%.o \
              $(FUZZ_BUILD)/tests/fuzz/support.o $(FUZZ_LIB)
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer,$(FUZZ_SAN) $^ -lpng -ljpeg -lz -o $@

# ---- the public targets -------------------------------------------------------------------
help:
	@echo "make [TARGET] [VARIABLE=VALUE...]   targets:"
	@echo "  all        libpopup, the tools, popup-bench and (where found) the CUDA and MPI plugins"
	@echo "  config     print the build configuration (probes cached in BUILD/config.mk)"
	@echo "  check      make deps, then build and run every test suite (test-run)"
	@echo "  test-run   build and run every test suite, installing nothing"
	@echo "  deps       install the Debian packages popup uses (as root)"
	@echo "  demo       make deps, build, and run examples/demo.sh"
	@echo "  bench      throughput of the standard workloads, into BUILD/bench.json"
	@echo "  bench-imagenet  the JPEG pipeline and resnet50 training against torchvision/PyTorch"
	@echo "  bench-data-parallel  2 ranks under mpirun against 1 process (throughput, gradient sums)"
	@echo "  bench-peers  popup against current PyTorch (edge-popup and dense), one table"
	@echo "  gpu-check  on an NVIDIA GPU: build, parity tests, GPU against CPU and PyTorch"
	@echo "  fuzz       make deps-fuzz, build the libFuzzer targets, run each FUZZ_S seconds"
	@echo "  image-dump a developer tool: popup's decoded images and transforms (scripts/pil-compare.py)"
	@echo "  format     clang-format lib/, tools/ and tests/ in place (.clang-format)"
	@echo "  install    the tools, the plugin and the man pages into DESTDIR PREFIX"
	@echo "  clean      remove BUILD"
	@echo "  help       this text"
	@echo "variables:"
	@echo "  PREFIX=$(PREFIX)  DESTDIR=$(DESTDIR)  install's destination"
	@echo "  BUILD=$(BUILD)  the build folder"
	@echo "  CXX=$(CXX)  CXXFLAGS=$(CXXFLAGS)  the C++ compiler and its optimisation flags"
	@echo "  CUDA=$(CUDA)  0 skips the CUDA plugin; CUDA_HOME, CUDNN_HOME: where CUDA and cuDNN are"
	@echo "  PYTHON=$(PYTHON)  the Python the tests and scripts run"
	@echo "  BENCH_ARGS=$(BENCH_ARGS)  popup-bench options for make bench (popup-bench --help)"
	@echo "  CLANG_FORMAT=$(CLANG_FORMAT)  the formatter of make format and the format check"
	@echo "  SANITIZE=$(SANITIZE)  1: ASan and UBSan (BUILD build/sanitize), thread: TSan (build/tsan)"
	@echo "  SUITES=$(SUITES)  the suites test-run runs (default all: unit cli man format fuzz)"
	@echo "  FUZZ_S=$(FUZZ_S)  seconds per fuzz target; FUZZ_CXX=$(FUZZ_CXX) its compiler"

# Every C++ and CUDA source of lib/, tools/ and tests/, formatted in place by the format check.
format:
	@CLANG_FORMAT=$(CLANG_FORMAT) tests/format-check.sh --fix

deps:
	@scripts/install-deps.sh

deps-fuzz:
	@scripts/install-deps.sh --fuzz

check: deps
	@$(MAKE) --no-print-directory test-run

# The tools are built unless SUITES names only suites that need none (unit, fuzz: as in CI).
test-run: $(if $(filter-out unit fuzz,$(or $(SUITES),all)),all $(COMM_CHECK)) $(TEST_BIN) $(REPLAY_BINS)
	@BUILD=$(BUILD) PYTHON=$(PYTHON) CLANG_FORMAT=$(CLANG_FORMAT) SANITIZE=$(SANITIZE) \
	  tests/run-all.sh $(SUITES)

# Each libFuzzer target FUZZ_S seconds (two at a time) from its seed corpus; inputs that crash
# or pass a limit are saved for tests/fuzz/regressions/ (tests/fuzz/run.sh).
FUZZ_S ?= 60
fuzz: deps-fuzz
	@$(MAKE) --no-print-directory $(FUZZ_BINS)
	@FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_S=$(FUZZ_S) tests/fuzz/run.sh $(FUZZ_NAMES)

# Throughput of the standard workloads beside the machine's measured fp32 limit (a few
# minutes; never part of check). Compare two runs: scripts/bench-compare.py OLD.json NEW.json
bench: all
	$(BENCH_BIN) --json $(BUILD)/bench.json $(BENCH_ARGS)
	@echo "bench: results in $(BUILD)/bench.json"

# The streamed JPEG pipeline against torchvision's ImageFolder + DataLoader, and resnet50
# training steps against the official PyTorch formulation, side by side on the same cores
# (needs python3-torch, python3-torchvision, python3-pil; tens of minutes; never part of check).
bench-imagenet: all
	@BUILD=$(BUILD) scripts/bench-data-pipeline.sh
	@BUILD=$(BUILD) scripts/bench-train-throughput.sh

# Data-parallel popup-train under mpirun against one process, side by side on the same cores:
# throughput, gradient-sum time and bytes (needs Open MPI; a few minutes; never part of check).
bench-data-parallel: all
	@BUILD=$(BUILD) scripts/bench-data-parallel.sh

# popup (direct and auto convolutions) against current PyTorch from PyPI, edge-popup and dense,
# training and evaluation, alternating on the same cores (tens of minutes; never part of check).
bench-peers: all
	@BUILD=$(BUILD) scripts/bench-peers.sh

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
	$(if $(filter 1,$(BUILD_MPI)),install -D -m 755 $(MPI_PLUGIN) $(DESTDIR)$(PREFIX)/lib/popup/libpopup-mpi.so)
	install -m 644 $(wildcard man/man1/*.1) $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 $(wildcard man/man5/*.5) $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 644 $(wildcard man/man7/*.7) $(DESTDIR)$(PREFIX)/share/man/man7

clean:
	rm -rf $(BUILD)

-include $(wildcard $(BUILD)/tests/fuzz/*.d $(FUZZ_OBJ:.o=.d) $(FUZZ_BUILD)/tests/fuzz/*.d)
-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BUILD)/tests/tools/image-dump.d $(BENCH_OBJ:.o=.d) $(TOOLS:$(BUILD)/bin/%=$(BUILD)/tools/%.d) $(PLUGIN_OBJ:.o=.d) \
  $(MPI_PLUGIN_OBJ:.o=.d) $(BUILD)/tests/tools/comm-check.d
.SECONDARY:
