# Reachability scanner benchmark and fixture driver (bench/reach_bench.c):
# used by tests/bpf/test_reach_oracle.sh and docs/reachability.md.
$(OUT)/bench/reach_bench: bench/reach_bench.c $(OUT)/libmemobserver.a
	@mkdir -p $(@D)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(OUT)/libmemobserver.a -o $@ $(LDLIBS)
all: $(OUT)/bench/reach_bench
