# Shared modules for the exactness fixtures (tests/fixtures/exact_*.c): they
# find them in build/fixtures/exact/ beside themselves.
EXACT_FIX := $(OUT)/fixtures/exact
EXACT_MODS := $(EXACT_FIX)/libexact_mod_a.so $(EXACT_FIX)/libexact_mod_b.so \
	      $(EXACT_FIX)/libexact_tls.so

$(EXACT_FIX)/libexact_mod_a.so: tests/fixtures/exact/mod.c
	@mkdir -p $(@D)
	$(call msg,CC,$@)
	$(Q)$(CC) $(FIX_CFLAGS) -fPIC -shared -DMOD_FRAME=8192 $< -o $@
$(EXACT_FIX)/libexact_mod_b.so: tests/fixtures/exact/mod.c
	@mkdir -p $(@D)
	$(call msg,CC,$@)
	$(Q)$(CC) $(FIX_CFLAGS) -fPIC -shared -DMOD_FRAME=8 $< -o $@
$(EXACT_FIX)/libexact_tls.so: tests/fixtures/exact/tls.c
	@mkdir -p $(@D)
	$(call msg,CC,$@)
	$(Q)$(CC) $(FIX_CFLAGS) -fPIC -shared $< -o $@

fixtures: $(EXACT_MODS)
