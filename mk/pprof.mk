# pprof output: C code generated from proto/profile.proto by protoc-c into
# $(OUT), linked into every build of the library (plain, ASan, fuzzers).
# Included after the main Makefile's rules, whose prerequisite lists are
# already expanded: the generated object is added to the archives as extra
# prerequisites (their recipes archive $^), not through LIB_OBJS alone.

PROTOC_C ?= protoc-c
PB_C := $(OUT)/profile.pb-c.c
PB_H := $(OUT)/profile.pb-c.h
PB_OBJ := $(OUT)/profile.pb-c.o
PB_ASAN_OBJ := $(OUT)/asan/lib/profile.pb-c.o
PB_TSAN_OBJ := $(OUT)/tsan/lib/profile.pb-c.o

PROTOBUF_C_CFLAGS := $(shell pkg-config --cflags libprotobuf-c 2>/dev/null)
PROTOBUF_C_LIBS := $(shell pkg-config --libs libprotobuf-c 2>/dev/null || echo -lprotobuf-c)
CFLAGS += $(PROTOBUF_C_CFLAGS)
FUZZ_CFLAGS += $(PROTOBUF_C_CFLAGS)
LDLIBS += $(PROTOBUF_C_LIBS)

# One protoc-c run writes both files (grouped target, GNU Make >= 4.3).
$(PB_C) $(PB_H) &: proto/profile.proto | $(OUT)
	$(call msg,PROTOC-C,$(PB_C))
	$(Q)$(PROTOC_C) --proto_path=proto --c_out=$(OUT) $<

$(PB_OBJ): $(PB_C) $(PB_H)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -fPIC -c $< -o $@

$(PB_ASAN_OBJ): $(PB_C) $(PB_H)
	@mkdir -p $(@D)
	$(call msg,CC-ASAN,$@)
	$(Q)$(CC) $(CFLAGS) -O1 $(ASAN) -c $< -o $@

$(PB_TSAN_OBJ): $(PB_C) $(PB_H)
	@mkdir -p $(@D)
	$(call msg,CC-TSAN,$@)
	$(Q)$(CC) $(CFLAGS) -O1 $(TSAN) -c $< -o $@

LIB_OBJS += $(PB_OBJ)
ASAN_OBJS += $(PB_ASAN_OBJ)
TSAN_OBJS += $(PB_TSAN_OBJ)
$(OUT)/libmemobserver.a: $(PB_OBJ)
$(OUT)/asan/libmemobserver.a: $(PB_ASAN_OBJ)
$(OUT)/tsan/libmemobserver.a: $(PB_TSAN_OBJ)

# Whoever includes the generated header needs it before the first compile;
# -MMD tracks it afterwards.
PB_USERS := sinks/pprof sinks/pprof_read
$(foreach u,$(PB_USERS),$(OUT)/lib/$(u).o $(OUT)/asan/lib/$(u).o $(OUT)/tsan/lib/$(u).o): $(PB_H)
$(OUT)/tests/test_pprof $(OUT)/asan/test_pprof $(OUT)/tsan/test_pprof: $(PB_H)

# Fuzzers compile the library sources directly: give them the generated one.
$(FUZZ_BINS): $(PB_C) $(PB_H)
$(FUZZ_BINS): LIB_SRCS += $(PB_C)
