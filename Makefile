# vigil — one entry point: all, run, test, bench, install, vmlinux, clean, help
#
#   make            build BPF objects, skeletons, vigild, vigil, vigil-scored, tests
#   sudo make run   install missing deps, build, run vigild on policies/default.json (state in ./var)
#   sudo make test  the whole suite (unit + system); ends with "N passed, N failed"
#   make vmlinux    regenerate vmlinux/vmlinux.h from /sys/kernel/btf/vmlinux

CC       ?= cc
CLANG    ?= clang
BPFTOOL  ?= bpftool
PKGS     := libbpf libelf zlib jansson libcrypto
SAN      ?=
OUT      := build
PREFIX   ?= /usr/local
DESTDIR  ?=

ARCH     := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

CFLAGS   ?= -O2 -g
CFLAGS   += -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -std=gnu11 \
            -D_GNU_SOURCE -Ibpf -Iuserspace/lib -I$(OUT) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lbpf -lelf -lz -ljansson -lcrypto) -lpthread
ifneq ($(SAN),)
CFLAGS   += -fsanitize=$(SAN) -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=$(SAN)
endif

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -D__VIGIL_BPF__ -Ivmlinux -Ibpf -Wall -Wno-unused-function

BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(OUT)/%.bpf.o,$(BPF_SRCS))
SKELS     := $(patsubst bpf/%.bpf.c,$(OUT)/%.skel.h,$(BPF_SRCS))
BPF_HDRS  := bpf/vigil_events.h $(wildcard bpf/lib/*.bpf.h)

LIB_SRCS  := $(wildcard userspace/lib/*.c)
LIB_OBJS  := $(patsubst userspace/%.c,$(OUT)/obj/%.o,$(LIB_SRCS))
LIB_HDRS  := $(wildcard userspace/lib/*.h) bpf/vigil_events.h
LIBVIGIL  := $(OUT)/libvigil.a

VIGILD_SRCS := $(wildcard userspace/vigild/*.c)
VIGIL_SRCS  := $(wildcard userspace/vigil/*.c)
SCORED_SRCS := $(wildcard userspace/scored/*.c)

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUT)/tests/%,$(UNIT_SRCS))
HELPER_SRCS := $(wildcard tests/system/helpers/*.c)
HELPER_BINS := $(patsubst tests/system/helpers/%.c,$(OUT)/tests/helpers/%,$(HELPER_SRCS))

BINS := $(OUT)/vigild $(OUT)/vigil
ifneq ($(SCORED_SRCS),)
BINS += $(OUT)/vigil-scored
endif

.PHONY: all run test unit-test system-test bench bench-tools install uninstall vmlinux clean help deps
all: $(BINS) $(UNIT_BINS) $(HELPER_BINS)

help:
	@sed -n '1,8p' Makefile | sed 's/^# \{0,1\}//'

deps:
	@tools/install-deps.sh

vmlinux:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/vmlinux.h

$(OUT)/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) vmlinux/vmlinux.h
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUT)/%.skel.h: $(OUT)/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

$(OUT)/obj/%.o: userspace/%.c $(LIB_HDRS) $(SKELS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIBVIGIL): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(OUT)/vigild: $(patsubst userspace/%.c,$(OUT)/obj/%.o,$(VIGILD_SRCS)) $(LIBVIGIL)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(OUT)/vigil: $(patsubst userspace/%.c,$(OUT)/obj/%.o,$(VIGIL_SRCS)) $(LIBVIGIL)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(OUT)/vigil-scored: $(patsubst userspace/%.c,$(OUT)/obj/%.o,$(SCORED_SRCS)) $(LIBVIGIL)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(SCORED_LIBS)

$(OUT)/tests/test_%: tests/unit/test_%.c $(LIBVIGIL) $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBVIGIL) $(LDLIBS) -lcmocka

$(OUT)/tests/helpers/%: tests/system/helpers/%.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -D_GNU_SOURCE -o $@ $<

# Command one: dependencies, build, run in the foreground with state under ./var.
run:
	@tools/install-deps.sh --if-missing
	@$(MAKE) --no-print-directory all
	@mkdir -p var/log var/lib var/run
	$(OUT)/vigild --policy policies/default.json --log-dir var/log --state-dir var/lib --run-dir var/run

# Command two: the whole suite.
test: all
	@tests/run.sh $(TESTS)

unit-test: all
	@tests/run.sh --unit

system-test: all
	@tests/run.sh --system

bench: all bench-tools
	@python3 tools/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(OUT)

# Benchmark drivers (tools/bench): built by `make bench`.
BENCH_BINS := $(OUT)/bench/tiny $(OUT)/bench/execloop $(OUT)/bench/openloop $(OUT)/bench/floor
bench-tools: $(BENCH_BINS)
$(OUT)/bench/tiny: tools/bench/tiny.c
	@mkdir -p $(@D)
	$(CC) -O2 -static -o $@ $<
$(OUT)/bench/execloop $(OUT)/bench/openloop: $(OUT)/bench/%: tools/bench/%.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -o $@ $<
$(OUT)/bench/floor.bpf.o: tools/bench/floor.bpf.c vmlinux/vmlinux.h
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@
$(OUT)/bench/floor.skel.h: $(OUT)/bench/floor.bpf.o
	$(BPFTOOL) gen skeleton $< name floor_bpf > $@
$(OUT)/bench/floor: tools/bench/floor.c $(OUT)/bench/floor.skel.h
	$(CC) -O2 -Wall -I$(OUT)/bench -o $@ $< -lbpf -lelf -lz
