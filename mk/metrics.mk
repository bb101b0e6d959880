# Prometheus endpoint: src/cli/http.c serves /metrics with libmicrohttpd.
# Only the memobserver binary and test_http link it; the library stays free
# of HTTP. Included after the main Makefile's rules: CFLAGS is recursively
# expanded, so the += below reaches every compile; LDLIBS is set per target.

MHD_CFLAGS := $(shell pkg-config --cflags libmicrohttpd 2>/dev/null)
MHD_LIBS := $(shell pkg-config --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd)
CFLAGS += $(MHD_CFLAGS)

$(OUT)/memobserver $(OUT)/memobserver-libc-malloc: LDLIBS += $(MHD_LIBS)

# test_http drives the CLI's http.o, which is not in the library. Explicit
# rules win over the pattern rules for these two binaries.
$(OUT)/tests/test_http: tests/unit/test_http.c $(OUT)/cli/http.o $(OUT)/libmemobserver.a | $(OUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(OUT)/cli/http.o $(OUT)/libmemobserver.a -o $@ \
		$(LDLIBS) $(MHD_LIBS) -lcmocka

$(OUT)/asan/cli/http.o: src/cli/http.c
	@mkdir -p $(@D)
	$(call msg,CC-ASAN,$@)
	$(Q)$(CC) $(CFLAGS) -O1 $(ASAN) -c $< -o $@

$(OUT)/asan/test_http: tests/unit/test_http.c $(OUT)/asan/cli/http.o $(OUT)/asan/libmemobserver.a | $(OUT)/asan
	$(call msg,CC-ASAN,$@)
	$(Q)$(CC) $(CFLAGS) -O1 $(ASAN) $< $(OUT)/asan/cli/http.o $(OUT)/asan/libmemobserver.a \
		-o $@ $(LDLIBS) $(MHD_LIBS) -lcmocka

$(OUT)/tsan/cli/http.o: src/cli/http.c
	@mkdir -p $(@D)
	$(call msg,CC-TSAN,$@)
	$(Q)$(CC) $(CFLAGS) -O1 $(TSAN) -c $< -o $@

$(OUT)/tsan/test_http: tests/unit/test_http.c $(OUT)/tsan/cli/http.o $(OUT)/tsan/libmemobserver.a
	@mkdir -p $(@D)
	$(call msg,CC-TSAN,$@)
	$(Q)$(CC) $(CFLAGS) -O1 $(TSAN) $< $(OUT)/tsan/cli/http.o $(OUT)/tsan/libmemobserver.a \
		-o $@ $(LDLIBS) $(MHD_LIBS) -lcmocka

-include $(wildcard $(OUT)/asan/cli/*.d $(OUT)/tsan/cli/*.d)
