# Fixtures of the watch tier's tests (tests/bpf/test_watch.sh) that the
# generic fixture rule cannot build.

# No frame pointers and no unwind tables of its own (no -g: .debug_frame
# would be CFI too); _bare also loses the C runtime's .eh_frame.
NOFP_CFLAGS := -O2 -Wall -D_GNU_SOURCE -fomit-frame-pointer -fno-asynchronous-unwind-tables \
	       -fno-unwind-tables
$(OUT)/fixtures/watch_nofp: tests/fixtures/watch_nofp.c tests/fixtures/fixture.h | $(OUT)/fixtures
	$(call msg,CC,$@)
	$(Q)$(CC) $(NOFP_CFLAGS) $< -o $@
$(OUT)/fixtures/watch_nofp_bare: $(OUT)/fixtures/watch_nofp
	$(call msg,OBJCOPY,$@)
	$(Q)objcopy --remove-section=.eh_frame --remove-section=.eh_frame_hdr $< $@

# A Go program (static, no malloc), where a Go toolchain is installed.
ifneq ($(shell command -v go 2>/dev/null),)
$(OUT)/fixtures/watch_grow_go: tests/fixtures/watch_grow.go | $(OUT)/fixtures
	$(call msg,GO,$@)
	$(Q)GOCACHE=$(abspath $(OUT))/go-cache GOPATH=$(abspath $(OUT))/go CGO_ENABLED=0 \
		go build -o $@ $<
fixtures: $(OUT)/fixtures/watch_grow_go
endif
fixtures: $(OUT)/fixtures/watch_nofp_bare
