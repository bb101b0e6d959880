# fuzz_dwarf patches the bytes of a real program built with debug info: the
# program is built here, and its bytes become an array the harness includes
# (build/fuzz/elf_seed.h), so the fuzzer needs no file at run time and its
# inputs stay small (libFuzzer runs with -max_len=4096).
$(OUT)/fuzz/elf_seed: tests/fuzz/elf_seed.c
	@mkdir -p $(@D)
	$(call msg,CC,$@)
	$(Q)$(CC) -O2 -g -o $@ $<

$(OUT)/fuzz/elf_seed.h: $(OUT)/fuzz/elf_seed
	$(call msg,GEN,$@)
	$(Q)cd $(@D) && xxd -i elf_seed > elf_seed.h.tmp && mv elf_seed.h.tmp elf_seed.h

$(OUT)/fuzz/fuzz_dwarf: $(OUT)/fuzz/elf_seed.h

# fuzz_http drives the CLI's http.c (not in the library) through a real
# libmicrohttpd server; explicit, so it wins over the pattern rule.
$(OUT)/fuzz/fuzz_http: tests/fuzz/fuzz_http.c src/cli/http.c src/cli/http.h
	@mkdir -p $(@D)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $(MHD_CFLAGS) $< src/cli/http.c -o $@ $(LDLIBS) $(MHD_LIBS)
