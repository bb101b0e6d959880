# Byte sampling (src/sample.h): the BPF object includes the shared math, which
# the object's pattern rule does not list; and a static C++ build of
# exact_sample, where operator new and malloc live in one probed file, so a
# sampled-out operator new meets its own malloc (tests/bpf/test_sampling.sh).
$(OUT)/memobserver.bpf.o: src/sample.h

$(OUT)/fixtures/exact_sample-static: tests/fixtures/exact_sample.cc tests/fixtures/fixture.h | $(OUT)/fixtures
	$(call msg,CXX,$@)
	$(Q)g++ $(FIX_CFLAGS) -static $< -o $@ -lpthread

fixtures: $(OUT)/fixtures/exact_sample-static
