# fuzz_dwarf patches the bytes of a real program built with debug info: the
# program is built here, and its bytes become an array the harness includes
# (build/fuzz/elf_seed.h), so the fuzzer needs no file at run time and its
# inputs stay small (libFuzzer runs with -max_len=4096).
#
# The seed's bytes must not depend on where the tree is checked out, or one
# corpus replays different files in two clones. The compiler records its
# working directory (DW_AT_comp_dir, the line table's directory list) and
# takes it from $$PWD when that names the same directory, so PWD is pinned to
# $(CURDIR) and $(CURDIR) is mapped to "."; the source is named relative.
# The build id hashes the content, so it follows. tests/fuzz/seed_paths.sh
# proves it by building the seed in two copies of the tree.
$(OUT)/fuzz/elf_seed: tests/fuzz/elf_seed.c mk/fuzz.mk
	@mkdir -p $(@D)
	$(call msg,CC,$@)
	$(Q)PWD='$(CURDIR)' $(CC) -O2 -g -ffile-prefix-map='$(CURDIR)'=. -o $@ $<

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
