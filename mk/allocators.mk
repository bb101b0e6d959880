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

fixtures: $(ALLOC_VARIANTS)
