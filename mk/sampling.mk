# Byte sampling: the BPF object includes the shared math
# (src/bpf/sampling_math.h, not a *.bpf.h, as user space includes it too),
# which the object's pattern rule does not list; and a static C++ build of
# exact_sample, where operator new and malloc live in one probed file, so a
# sampled-out operator new meets its own malloc (tests/bpf/test_sampling.sh).
$(OUT)/memobserver.bpf.o: src/bpf/sampling_math.h

$(OUT)/fixtures/exact_sample-static: tests/fixtures/exact_sample.cc tests/fixtures/fixture.h | $(OUT)/fixtures
	$(call msg,CXX,$@)
	$(Q)g++ $(FIX_CFLAGS) -static $< -o $@ -lpthread

fixtures: $(OUT)/fixtures/exact_sample-static
