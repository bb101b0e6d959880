# memobserver - GNU Make build. `make` builds build/memobserver; `make test`
# runs the whole suite; `make V=1` shows the full command lines.
.DELETE_ON_ERROR:
.SUFFIXES:
.SECONDARY:

CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
PREFIX ?= /usr/local
DESTDIR ?=

OUT := build
ARCH := x86

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

PKGS := libbpf libdw libelf zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 $(WARN) -fno-omit-frame-pointer -D_GNU_SOURCE \
	  -Iinclude -Isrc -Isrc/lib -I$(OUT) $(PKG_CFLAGS) -MMD -MP
# libiberty (static): the C++ and Rust demangler, as c++filt and binutils use
LDLIBS += $(PKG_LIBS) -lpthread -lm -liberty

BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	      -Isrc -Isrc/bpf -I$(OUT)

BPF_SRCS := $(wildcard src/bpf/*.bpf.c)
BPF_OBJS := $(patsubst src/bpf/%.bpf.c,$(OUT)/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst src/bpf/%.bpf.c,$(OUT)/%.skel.h,$(BPF_SRCS))

LIB_SRCS := $(wildcard src/lib/*.c src/lib/*/*.c)
LIB_OBJS := $(patsubst src/%.c,$(OUT)/%.o,$(LIB_SRCS))
CLI_SRCS := $(wildcard src/cli/*.c)
CLI_OBJS := $(patsubst src/%.c,$(OUT)/%.o,$(CLI_SRCS))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUT)/tests/%,$(UNIT_SRCS))
ASAN_BINS := $(patsubst tests/unit/%.c,$(OUT)/asan/%,$(UNIT_SRCS))

FIX_C := $(wildcard tests/fixtures/*.c)
FIX_CXX := $(wildcard tests/fixtures/*.cc)
FIX_BINS := $(patsubst tests/fixtures/%.c,$(OUT)/fixtures/%,$(FIX_C)) \
	    $(patsubst tests/fixtures/%.cc,$(OUT)/fixtures/%,$(FIX_CXX))

.PHONY: all clean test unit asan tsan fuzz fuzz-replay fuzz-explore fixtures vmlinux install
all: $(OUT)/memobserver $(OUT)/memobserver-libc-malloc fixtures

$(OUT) $(OUT)/lib $(OUT)/cli $(OUT)/tests $(OUT)/asan $(OUT)/fixtures:
	$(Q)mkdir -p $@

# The vendored vmlinux.h is regenerated only on request, never implicitly.
vmlinux:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > src/bpf/vmlinux.h

$(OUT)/%.bpf.o: src/bpf/%.bpf.c src/abi.h $(wildcard src/bpf/*.bpf.h) src/bpf/vmlinux.h | $(OUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUT)/%.skel.h: $(OUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(LIB_OBJS) $(CLI_OBJS): $(SKELS)

$(OUT)/lib/%.o: src/lib/%.c | $(OUT)/lib
	@mkdir -p $(@D)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -fPIC -c $< -o $@

$(OUT)/cli/%.o: src/cli/%.c | $(OUT)/cli
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUT)/libmemobserver.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

# memobserver allocates with its own copy of jemalloc, linked in: its malloc
# is the one every library it loads resolves (the executable comes first in
# the lookup), so its own allocations never hit the allocator probes it
# places in the C library. build/memobserver-libc-malloc, linked without
# it, is the control of the test that checks this (test_selftrap.sh).
SELF_ALLOC := -Wl,-Bstatic -ljemalloc -Wl,-Bdynamic -ldl
$(OUT)/memobserver: $(CLI_OBJS) $(OUT)/libmemobserver.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(SELF_ALLOC) $(LDLIBS)

$(OUT)/memobserver-libc-malloc: $(CLI_OBJS) $(OUT)/libmemobserver.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

# Unit tests: no privileges, cmocka.
$(OUT)/tests/%: tests/unit/%.c $(OUT)/libmemobserver.a | $(OUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(OUT)/libmemobserver.a -o $@ $(LDLIBS) -lcmocka

ASAN := -fsanitize=address,undefined -fno-sanitize-recover=all
ASAN_OBJS := $(patsubst src/lib/%.c,$(OUT)/asan/lib/%.o,$(LIB_SRCS))
$(OUT)/asan/lib/%.o: src/lib/%.c $(SKELS)
	@mkdir -p $(@D)
	$(call msg,CC-ASAN,$@)
	$(Q)$(CC) $(CFLAGS) -O1 $(ASAN) -c $< -o $@
$(OUT)/asan/libmemobserver.a: $(ASAN_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^
$(OUT)/asan/%: tests/unit/%.c $(OUT)/asan/libmemobserver.a | $(OUT)/asan
	$(call msg,CC-ASAN,$@)
	$(Q)$(CC) $(CFLAGS) -O1 $(ASAN) $< $(OUT)/asan/libmemobserver.a -o $@ $(LDLIBS) -lcmocka

# Fuzzers: libFuzzer (clang), the library with ASan+UBSan.
#   make fuzz-replay    every corpus file once through its fuzzer, nothing
#                       random (what tests/run.sh runs)
#   make fuzz-explore   random exploration, FUZZ_SECONDS (60) per fuzzer,
#                       FUZZERS="dwarf http" to pick some; new inputs go to
#                       build/fuzz/new/fuzz_NAME/, crashes and leaks to
#                       build/fuzz/artifacts/ (tests/fuzz/README)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(OUT)/fuzz/%,$(FUZZ_SRCS))
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	       -std=gnu11 -D_GNU_SOURCE -Iinclude -Isrc -Isrc/lib -I$(OUT) $(PKG_CFLAGS)
$(OUT)/fuzz/%: tests/fuzz/%.c $(LIB_SRCS) $(wildcard src/lib/*.h src/lib/*/*.h src/*.h include/*.h) $(SKELS)
	@mkdir -p $(@D)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $< $(LIB_SRCS) -o $@ $(LDLIBS)
fuzz: $(FUZZ_BINS)
FUZZERS ?=
fuzz-replay: $(FUZZ_BINS)
	$(Q)bash tests/fuzz/replay.sh $(FUZZERS)
fuzz-explore: $(FUZZ_BINS)
	$(Q)FUZZ_SECONDS=$(or $(FUZZ_SECONDS),60) bash tests/fuzz/explore.sh $(FUZZERS)

# The unit tests under ThreadSanitizer: the library's shared state read
# from other threads (counters, metrics, names) while the stages run.
TSAN := -fsanitize=thread -Wno-tsan -Wno-maybe-uninitialized
TSAN_OBJS := $(patsubst src/lib/%.c,$(OUT)/tsan/lib/%.o,$(LIB_SRCS))
TSAN_BINS := $(patsubst tests/unit/%.c,$(OUT)/tsan/%,$(UNIT_SRCS))
$(OUT)/tsan/lib/%.o: src/lib/%.c $(SKELS)
	@mkdir -p $(@D)
	$(call msg,CC-TSAN,$@)
	$(Q)$(CC) $(CFLAGS) -O1 $(TSAN) -c $< -o $@
$(OUT)/tsan/libmemobserver.a: $(TSAN_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^
$(OUT)/tsan/%: tests/unit/%.c $(OUT)/tsan/libmemobserver.a
	@mkdir -p $(@D)
	$(call msg,CC-TSAN,$@)
	$(Q)$(CC) $(CFLAGS) -O1 $(TSAN) $< $(OUT)/tsan/libmemobserver.a -o $@ $(LDLIBS) -lcmocka

unit: $(UNIT_BINS)
asan: $(ASAN_BINS)
tsan: $(TSAN_BINS)

# Fixtures: programs with known ground truth. Built the way Debian builds
# software (default -O2, no forced frame pointers) so stacks are realistic.
FIX_CFLAGS := -O2 -g -Wall -D_GNU_SOURCE
$(OUT)/fixtures/%: tests/fixtures/%.c tests/fixtures/fixture.h | $(OUT)/fixtures
	$(call msg,CC,$@)
	$(Q)$(CC) $(FIX_CFLAGS) $< -o $@ -lpthread
$(OUT)/fixtures/%: tests/fixtures/%.cc tests/fixtures/fixture.h | $(OUT)/fixtures
	$(call msg,CXX,$@)
	$(Q)g++ $(FIX_CFLAGS) $< -o $@ -lpthread
fixtures: $(FIX_BINS)

test: all unit asan fuzz
	$(Q)bash tests/run.sh

install: $(OUT)/memobserver
	install -D -m 0755 $(OUT)/memobserver $(DESTDIR)$(PREFIX)/sbin/memobserver

clean:
	rm -rf $(OUT)

# Fragments for optional parts (pprof code generation, install, bench...).
-include $(wildcard mk/*.mk)

-include $(wildcard $(OUT)/*/*.d $(OUT)/*/*/*.d $(OUT)/*.d $(OUT)/asan/lib/*.d $(OUT)/asan/lib/*/*.d \
	$(OUT)/tsan/lib/*.d $(OUT)/tsan/lib/*/*.d)
