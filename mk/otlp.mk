# OTLP export: C code generated from proto/otlp/ (restated OTLP schema) by
# protoc-c into $(OUT)/otlp, linked into every build of the library like the
# pprof code (see pprof.mk for why the archives get the objects as extra
# prerequisites). The sender (src/cli/otlp_export.c) uses libcurl: only the
# memobserver binaries and the exporter's unit test link it, so the library
# stays free of network I/O, as it is of HTTP serving (metrics.mk).

OTLP_PROTO_DIR := proto/otlp
OTLP_PROTOS := $(sort $(shell find $(OTLP_PROTO_DIR) -name '*.proto' 2>/dev/null))
OTLP_GEN := $(OUT)/otlp
OTLP_PB_C := $(patsubst $(OTLP_PROTO_DIR)/%.proto,$(OTLP_GEN)/%.pb-c.c,$(OTLP_PROTOS))
OTLP_PB_H := $(OTLP_PB_C:.c=.h)
OTLP_PB_OBJ := $(OTLP_PB_C:.c=.o)
OTLP_PB_ASAN_OBJ := $(patsubst $(OUT)/%.pb-c.c,$(OUT)/asan/%.pb-c.o,$(OTLP_PB_C))
OTLP_PB_TSAN_OBJ := $(patsubst $(OUT)/%.pb-c.c,$(OUT)/tsan/%.pb-c.o,$(OTLP_PB_C))

CFLAGS += -I$(OTLP_GEN)
FUZZ_CFLAGS += -I$(OTLP_GEN)

CURL_CFLAGS := $(shell pkg-config --cflags libcurl 2>/dev/null)
CURL_LIBS := $(shell pkg-config --libs libcurl 2>/dev/null || echo -lcurl)
CFLAGS += $(CURL_CFLAGS)
$(OUT)/memobserver $(OUT)/memobserver-libc-malloc: LDLIBS += $(CURL_LIBS)

# One protoc-c run writes every file (grouped target, GNU Make >= 4.3).
$(OTLP_PB_C) $(OTLP_PB_H) &: $(OTLP_PROTOS) | $(OUT)
	$(call msg,PROTOC-C,$(OTLP_GEN))
	$(Q)mkdir -p $(OTLP_GEN)
	$(Q)$(PROTOC_C) --proto_path=$(OTLP_PROTO_DIR) --c_out=$(OTLP_GEN) $(OTLP_PROTOS)

$(OTLP_GEN)/%.pb-c.o: $(OTLP_GEN)/%.pb-c.c $(OTLP_PB_H)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -fPIC -c $< -o $@

$(OUT)/asan/otlp/%.pb-c.o: $(OTLP_GEN)/%.pb-c.c $(OTLP_PB_H)
	@mkdir -p $(@D)
	$(call msg,CC-ASAN,$@)
	$(Q)$(CC) $(CFLAGS) -O1 $(ASAN) -c $< -o $@

$(OUT)/tsan/otlp/%.pb-c.o: $(OTLP_GEN)/%.pb-c.c $(OTLP_PB_H)
	@mkdir -p $(@D)
	$(call msg,CC-TSAN,$@)
	$(Q)$(CC) $(CFLAGS) -O1 $(TSAN) -c $< -o $@

LIB_OBJS += $(OTLP_PB_OBJ)
ASAN_OBJS += $(OTLP_PB_ASAN_OBJ)
TSAN_OBJS += $(OTLP_PB_TSAN_OBJ)
$(OUT)/libmemobserver.a: $(OTLP_PB_OBJ)
$(OUT)/asan/libmemobserver.a: $(OTLP_PB_ASAN_OBJ)
$(OUT)/tsan/libmemobserver.a: $(OTLP_PB_TSAN_OBJ)

# Whoever includes a generated header needs it before the first compile;
# -MMD tracks it afterwards.
$(OUT)/lib/sinks/otlp.o $(OUT)/asan/lib/sinks/otlp.o $(OUT)/tsan/lib/sinks/otlp.o: $(OTLP_PB_H)
$(OUT)/tests/test_otlp $(OUT)/asan/test_otlp $(OUT)/tsan/test_otlp: $(OTLP_PB_H)

# The exporter is CLI code: its unit test links the CLI's objects, libcurl
# and libmicrohttpd for the server it talks to (explicit rules win over the
# pattern rules), in each of the three builds.
EXPORT_SRCS := src/cli/otlp_export.c src/cli/privs.c
EXPORT_OBJS := $(patsubst src/%.c,$(OUT)/%.o,$(EXPORT_SRCS))
ASAN_EXPORT_OBJS := $(patsubst src/%.c,$(OUT)/asan/%.o,$(EXPORT_SRCS))
TSAN_EXPORT_OBJS := $(patsubst src/%.c,$(OUT)/tsan/%.o,$(EXPORT_SRCS))
EXPORT_LIBS = $(LDLIBS) $(CURL_LIBS) $(MHD_LIBS) -lcmocka

$(OUT)/tests/test_otlp_export: tests/unit/test_otlp_export.c $(EXPORT_OBJS) \
		$(OUT)/libmemobserver.a | $(OUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Isrc/cli $< $(EXPORT_OBJS) $(OUT)/libmemobserver.a -o $@ $(EXPORT_LIBS)

$(OUT)/asan/cli/otlp_export.o $(OUT)/asan/cli/privs.o: $(OUT)/asan/cli/%.o: src/cli/%.c
	@mkdir -p $(@D)
	$(call msg,CC-ASAN,$@)
	$(Q)$(CC) $(CFLAGS) -O1 $(ASAN) -c $< -o $@
$(OUT)/asan/test_otlp_export: tests/unit/test_otlp_export.c $(ASAN_EXPORT_OBJS) \
		$(OUT)/asan/libmemobserver.a | $(OUT)/asan
	$(call msg,CC-ASAN,$@)
	$(Q)$(CC) $(CFLAGS) -Isrc/cli -O1 $(ASAN) $< $(ASAN_EXPORT_OBJS) \
		$(OUT)/asan/libmemobserver.a -o $@ $(EXPORT_LIBS)

$(OUT)/tsan/cli/otlp_export.o $(OUT)/tsan/cli/privs.o: $(OUT)/tsan/cli/%.o: src/cli/%.c
	@mkdir -p $(@D)
	$(call msg,CC-TSAN,$@)
	$(Q)$(CC) $(CFLAGS) -O1 $(TSAN) -c $< -o $@
$(OUT)/tsan/test_otlp_export: tests/unit/test_otlp_export.c $(TSAN_EXPORT_OBJS) \
		$(OUT)/tsan/libmemobserver.a
	@mkdir -p $(@D)
	$(call msg,CC-TSAN,$@)
	$(Q)$(CC) $(CFLAGS) -Isrc/cli -O1 $(TSAN) $< $(TSAN_EXPORT_OBJS) \
		$(OUT)/tsan/libmemobserver.a -o $@ $(EXPORT_LIBS)

# Fuzzers compile the library sources directly: give them the generated ones.
$(FUZZ_BINS): $(OTLP_PB_C) $(OTLP_PB_H)
$(FUZZ_BINS): LIB_SRCS += $(OTLP_PB_C)
