# vigil — one entry point: all, run, test, bench, install, vmlinux, clean, help
#
#   make            build BPF objects, skeletons, vigild, vigil, vigil-scored, tests
#   sudo make run   install missing deps, build, run vigild on policies/default.json (state in ./var)
#   sudo make test  the whole suite (unit + system); ends with "N passed, N failed"
#   make vmlinux    regenerate vmlinux/vmlinux.h from /sys/kernel/btf/vmlinux

CC       ?= cc
CLANG    ?= clang
BPFTOOL  ?= bpftool
LLVM_STRIP ?= llvm-strip
PKGS     := libbpf libelf zlib jansson libcrypto libcurl sqlite3
SCORED_LIBS := $(shell pkg-config --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd)
SAN      ?=
OUT      := build
PREFIX   ?= /usr/local
DESTDIR  ?=

ARCH     := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

CFLAGS   ?= -O2 -g
CFLAGS   += -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -std=gnu11 \
            -D_GNU_SOURCE -Ibpf -Iuserspace/lib -I$(OUT) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lbpf -lelf -lz -ljansson -lcrypto -lcurl -lsqlite3) -lpthread
LDLIBS   += $(SCORED_LIBS)
ifneq ($(SAN),)
# no recovery: a sanitizer report fails the test that triggered it
CFLAGS   += -fsanitize=$(SAN) -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=$(SAN) -fno-sanitize-recover=all
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

.SECONDARY:
.PHONY: all run test unit-test system-test bench bench-tools install uninstall vmlinux clean help deps
all: $(BINS) $(UNIT_BINS) $(HELPER_BINS)

help:
	@sed -n '1,8p' Makefile | sed 's/^# \{0,1\}//'

deps:
	@tools/install-deps.sh

vmlinux:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/vmlinux.h

# DWARF is stripped (BTF and .BTF.ext stay): the skeletons embed each object in vigild's
# rodata, and DWARF made up 4 of its 4.7 MB, 2.5 MB of it resident after loading
$(OUT)/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) vmlinux/vmlinux.h
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@
	$(LLVM_STRIP) -g $@

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
	@VIGIL_BUILD=$(OUT) tests/run.sh $(TESTS)

unit-test: all
	@VIGIL_BUILD=$(OUT) tests/run.sh --unit

system-test: all
	@VIGIL_BUILD=$(OUT) tests/run.sh --system

bench: all bench-tools
	@python3 tools/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(OUT)

# libFuzzer targets (tests/fuzz/fuzz_*.c): `make fuzz` builds them with clang, ASan and UBSan
# in build-fuzz (the main build is untouched); tests/fuzz/run.sh builds and runs them.
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_OUT  ?= build-fuzz
.PHONY: fuzz fuzz-bins
fuzz:
	@$(MAKE) --no-print-directory OUT=$(FUZZ_OUT) CC=$(CLANG) SAN=fuzzer-no-link,address,undefined fuzz-bins
fuzz-bins: $(patsubst tests/fuzz/%.c,$(OUT)/fuzz/%,$(FUZZ_SRCS))
$(OUT)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIBVIGIL) $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(LIBVIGIL) $(LDLIBS)

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

# ---- install / uninstall (deploy/README.md) ----
# PREFIX (default /usr/local) and DESTDIR are honoured.  Units go to $(UNITDIR), which
# systemd searches for local installs (/usr/local/lib/systemd/system).  Configuration,
# state and logs live at their fixed paths (paths.h) below DESTDIR.
BINDIR   ?= $(PREFIX)/bin
SBINDIR  ?= $(PREFIX)/sbin
DOCDIR   ?= $(PREFIX)/share/doc/vigil
DATADIR  ?= $(PREFIX)/share/vigil
UNITDIR  ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
BPF_PIN_DIR ?= $(DESTDIR)/sys/fs/bpf/vigil
INSTALL_DAEMONS := vigild $(if $(SCORED_SRCS),vigil-scored)
INSTALL_UNITS   := $(patsubst %,%.service,$(INSTALL_DAEMONS))
SYSTEMCTL := $(if $(DESTDIR),,$(shell command -v systemctl 2>/dev/null))

install: $(BINS)
	install -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(DOCDIR) \
		$(DESTDIR)$(DATADIR)/examples $(DESTDIR)$(UNITDIR)
	install -m 0755 $(OUT)/vigil $(DESTDIR)$(BINDIR)/vigil
	for d in $(INSTALL_DAEMONS); do install -m 0755 $(OUT)/$$d $(DESTDIR)$(SBINDIR)/$$d || exit 1; done
	for b in vigil $(INSTALL_DAEMONS); do $(OUT)/$$b --help > $(DESTDIR)$(DOCDIR)/$$b.txt || exit 1; done
	install -m 0644 policies/default.json policies/*.schema.json $(DESTDIR)$(DATADIR)/
	install -m 0644 policies/examples/*.json $(DESTDIR)$(DATADIR)/examples/
	for u in $(INSTALL_UNITS); do \
		sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' \
			deploy/systemd/$$u.in > $(DESTDIR)$(UNITDIR)/$$u && chmod 0644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/vigil
	@# the policy: never overwrite one the operator changed; ship the new one beside it
	@if [ ! -e $(DESTDIR)$(SYSCONFDIR)/vigil/policy.json ]; then \
		install -m 0644 policies/default.json $(DESTDIR)$(SYSCONFDIR)/vigil/policy.json; \
		echo "installed $(DESTDIR)$(SYSCONFDIR)/vigil/policy.json"; \
	elif ! cmp -s policies/default.json $(DESTDIR)$(SYSCONFDIR)/vigil/policy.json; then \
		install -m 0644 policies/default.json $(DESTDIR)$(SYSCONFDIR)/vigil/policy.json.dist; \
		echo "kept the changed $(DESTDIR)$(SYSCONFDIR)/vigil/policy.json; the shipped one is policy.json.dist"; \
	fi
	install -d -m 0750 $(DESTDIR)/var/lib/vigil $(DESTDIR)/var/log/vigil
	$(if $(SYSTEMCTL),$(SYSTEMCTL) daemon-reload,@true)
	@echo "installed; start with: systemctl enable --now vigild"

uninstall:
	$(if $(SYSTEMCTL),-$(SYSTEMCTL) disable --now $(INSTALL_UNITS) 2>/dev/null,@true)
	rm -f $(DESTDIR)$(BINDIR)/vigil $(DESTDIR)$(SBINDIR)/vigild $(DESTDIR)$(SBINDIR)/vigil-scored
	rm -f $(DESTDIR)$(UNITDIR)/vigild.service $(DESTDIR)$(UNITDIR)/vigil-scored.service
	rm -rf $(DESTDIR)$(DOCDIR) $(DESTDIR)$(DATADIR)
	rm -f $(DESTDIR)$(SYSCONFDIR)/vigil/policy.json.dist
	@# the policy goes only when it is the shipped one; state and logs only when empty
	@if cmp -s policies/default.json $(DESTDIR)$(SYSCONFDIR)/vigil/policy.json; then \
		rm -f $(DESTDIR)$(SYSCONFDIR)/vigil/policy.json; \
	elif [ -e $(DESTDIR)$(SYSCONFDIR)/vigil/policy.json ]; then \
		echo "kept the changed $(DESTDIR)$(SYSCONFDIR)/vigil/policy.json"; fi
	-rmdir $(DESTDIR)$(SYSCONFDIR)/vigil $(DESTDIR)/var/lib/vigil $(DESTDIR)/var/log/vigil 2>/dev/null
	@# unpinning detaches what a stopped vigild left attached (JIT port filters, pinned maps)
	rm -rf $(BPF_PIN_DIR)
	$(if $(SYSTEMCTL),$(SYSTEMCTL) daemon-reload,@true)
