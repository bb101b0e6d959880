# Allocator fixtures (issue 5): tests/fixtures/leak_alloc.cc linked against
# each allocator Debian packages, and statically. Variants whose library is
# not installed are not built (the test says which are skipped).
LIBDIR := /usr/lib/x86_64-linux-gnu
ALLOC_FIX := $(OUT)/fixtures/alloc
ALLOC_VARIANTS := $(ALLOC_FIX)/leak_alloc-glibc $(ALLOC_FIX)/leak_alloc-static
ifneq ($(wildcard $(LIBDIR)/libjemalloc.so.2),)
ALLOC_VARIANTS += $(ALLOC_FIX)/leak_alloc-jemalloc
endif
ifneq ($(wildcard $(LIBDIR)/libtcmalloc_minimal.so.4),)
ALLOC_VARIANTS += $(ALLOC_FIX)/leak_alloc-tcmalloc
endif
ifneq ($(wildcard $(LIBDIR)/libmimalloc.so.2),)
ALLOC_VARIANTS += $(ALLOC_FIX)/leak_alloc-mimalloc
endif

ifneq ($(shell command -v musl-gcc 2>/dev/null),)
ALLOC_VARIANTS += $(ALLOC_FIX)/leak_alloc-musl $(ALLOC_FIX)/leak_alloc-musl-static
endif
# a je_-prefixed allocator (tests/fixtures/alloc/je_alloc.c) and a program calling it
ALLOC_VARIANTS += $(ALLOC_FIX)/libje_fixture.so $(ALLOC_FIX)/leak_je

ALLOC_CXXFLAGS := $(FIX_CFLAGS) -Itests/fixtures

$(ALLOC_FIX)/leak_alloc-glibc: tests/fixtures/leak_alloc.cc tests/fixtures/fixture.h
	@mkdir -p $(@D)
	$(call msg,CXX,$@)
	$(Q)g++ $(ALLOC_CXXFLAGS) $< -o $@
# static glibc: malloc lives in the executable itself
$(ALLOC_FIX)/leak_alloc-static: tests/fixtures/leak_alloc.cc tests/fixtures/fixture.h
	@mkdir -p $(@D)
	$(call msg,CXX,$@)
	$(Q)g++ $(ALLOC_CXXFLAGS) -static $< -o $@
# the allocator before libstdc++: its operator new/delete win
$(ALLOC_FIX)/leak_alloc-jemalloc: tests/fixtures/leak_alloc.cc tests/fixtures/fixture.h
	@mkdir -p $(@D)
	$(call msg,CXX,$@)
	$(Q)g++ $(ALLOC_CXXFLAGS) -DWITH_JEMALLOCX $< -o $@ $(LIBDIR)/libjemalloc.so.2
$(ALLOC_FIX)/leak_alloc-tcmalloc: tests/fixtures/leak_alloc.cc tests/fixtures/fixture.h
	@mkdir -p $(@D)
	$(call msg,CXX,$@)
	$(Q)g++ $(ALLOC_CXXFLAGS) $< -o $@ $(LIBDIR)/libtcmalloc_minimal.so.4
$(ALLOC_FIX)/leak_alloc-mimalloc: tests/fixtures/leak_alloc.cc tests/fixtures/fixture.h
	@mkdir -p $(@D)
	$(call msg,CXX,$@)
	$(Q)g++ $(ALLOC_CXXFLAGS) $< -o $@ $(LIBDIR)/libmimalloc.so.2

# musl has no C++ runtime: the C part of the same fixture, compiled as C,
# against musl's shared libc (interpreter /lib/ld-musl-x86_64.so.1, which
# is that libc) and statically
$(ALLOC_FIX)/leak_alloc-musl: tests/fixtures/leak_alloc.cc tests/fixtures/fixture.h
	@mkdir -p $(@D)
	$(call msg,MUSLCC,$@)
	$(Q)musl-gcc $(ALLOC_CXXFLAGS) -x c $< -o $@
$(ALLOC_FIX)/leak_alloc-musl-static: tests/fixtures/leak_alloc.cc tests/fixtures/fixture.h
	@mkdir -p $(@D)
	$(call msg,MUSLCC,$@)
	$(Q)musl-gcc $(ALLOC_CXXFLAGS) -static -x c $< -o $@
# only je_* symbols are exported; the program finds it through its RUNPATH
$(ALLOC_FIX)/libje_fixture.so: tests/fixtures/alloc/je_alloc.c
	@mkdir -p $(@D)
	$(call msg,CC,$@)
	$(Q)gcc $(FIX_CFLAGS) -fPIC -shared -fvisibility=hidden -Wl,-soname,libje_fixture.so \
		$< -o $@ -lpthread
$(ALLOC_FIX)/leak_je: tests/fixtures/alloc/leak_je.c tests/fixtures/fixture.h $(ALLOC_FIX)/libje_fixture.so
	@mkdir -p $(@D)
	$(call msg,CC,$@)
	$(Q)gcc $(FIX_CFLAGS) -Itests/fixtures $< -o $@ -L$(ALLOC_FIX) -lje_fixture \
		-Wl,-rpath,$(abspath $(ALLOC_FIX)) -lpthread

fixtures: $(ALLOC_VARIANTS)
