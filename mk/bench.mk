# Benchmarks built against the library (bench/run.sh builds its own).
$(OUT)/bench/record_bench: bench/record_bench.c tests/unit/fake_kernel.h $(OUT)/libmemobserver.a
	@mkdir -p $(@D)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(OUT)/libmemobserver.a -o $@ $(LDLIBS)

.PHONY: bench-record
bench-record: $(OUT)/bench/record_bench
	$(Q)$(OUT)/bench/record_bench
