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

LIB_SRC   := $(wildcard lib/*.cpp lib/cpu/*.cpp lib/data/*.cpp)
LIB_OBJ   := $(LIB_SRC:%.cpp=$(BUILD)/%.o)
LIB_A     := $(BUILD)/lib/libpopup.a
TOOLS     := $(patsubst tools/%.cpp,$(BUILD)/bin/%,$(wildcard tools/*.cpp))
TEST_SRC  := $(wildcard tests/unit/*.cpp)
TEST_OBJ  := $(TEST_SRC:%.cpp=$(BUILD)/%.o)
TEST_BIN  := $(BUILD)/tests/unit_tests

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

.PHONY: all config check demo install clean deps test-run bench
.DEFAULT_GOAL := all

all: config $(LIB_A) $(TOOLS)

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
	@if [ "$(HAVE_ZLIB)$(HAVE_OPENMP)$(HAVE_CLI11)$(HAVE_ONEDNN)$(HAVE_LIBPNG)" != 11111 ]; then \
	  echo "popup: required components missing: run 'make deps' as root"; exit 1; fi

$(BUILD)/%.o: %.cpp | config
	@mkdir -p $(@D)
	$(CXX) $(POPUP_CXXFLAGS) -c $< -o $@

$(LIB_A): $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/%: $(BUILD)/tools/%.o $(LIB_A)
	@mkdir -p $(@D)
	$(CXX) $(POPUP_CXXFLAGS) $< $(LIB_A) $(LDLIBS_CORE) -o $@

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

demo: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) examples/demo.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(wildcard man/man1/*.1) $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 $(wildcard man/man5/*.5) $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 644 $(wildcard man/man7/*.7) $(DESTDIR)$(PREFIX)/share/man/man7

clean:
	rm -rf $(BUILD)

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(TOOLS:$(BUILD)/bin/%=$(BUILD)/tools/%.d)
.SECONDARY:
