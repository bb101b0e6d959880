# Installation of everything beside the binary: the man page, the systemd
# unit and the configuration file. The main Makefile's `install` installs
# the binary; the line below adds these as extra prerequisites, so
# `make install PREFIX=/usr DESTDIR=...` installs the whole package.
#
#   binary  $(PREFIX)/sbin/memobserver                  (main Makefile)
#   man     $(MANDIR)/man8/memobserver.8                $(PREFIX)/share/man
#   unit    $(SYSTEMDUNITDIR)/memobserver.service       /lib/systemd/system for
#                                                       PREFIX=/usr, else
#                                                       $(PREFIX)/lib/systemd/system
#   config  $(SYSCONFDIR)/memobserver/memobserver.conf  /etc; never overwritten
#
# Every path is under $(DESTDIR). The unit's ExecStart names
# $(PREFIX)/sbin/memobserver and $(SYSCONFDIR), rewritten at install time.

MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
ifeq ($(PREFIX),/usr)
SYSTEMDUNITDIR ?= /lib/systemd/system
else
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
endif

INSTALL ?= install

.PHONY: install-extras uninstall
install: install-extras

install-extras: packaging/memobserver.8 packaging/memobserver.service docs/memobserver.conf.example
	$(INSTALL) -D -m 0644 packaging/memobserver.8 $(DESTDIR)$(MANDIR)/man8/memobserver.8
	$(INSTALL) -d -m 0755 $(DESTDIR)$(SYSTEMDUNITDIR)
	sed -e 's|/usr/sbin/memobserver|$(PREFIX)/sbin/memobserver|g' \
	    -e 's|/etc/memobserver/|$(SYSCONFDIR)/memobserver/|g' \
	    packaging/memobserver.service > $(DESTDIR)$(SYSTEMDUNITDIR)/memobserver.service.tmp
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/memobserver.service.tmp
	mv -f $(DESTDIR)$(SYSTEMDUNITDIR)/memobserver.service.tmp \
	    $(DESTDIR)$(SYSTEMDUNITDIR)/memobserver.service
	@# a configuration the administrator edited is never replaced
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/memobserver/memobserver.conf ]; then \
		echo "  keeping $(DESTDIR)$(SYSCONFDIR)/memobserver/memobserver.conf"; \
	else \
		echo "$(INSTALL) -D -m 0644 docs/memobserver.conf.example $(DESTDIR)$(SYSCONFDIR)/memobserver/memobserver.conf"; \
		$(INSTALL) -D -m 0644 docs/memobserver.conf.example \
			$(DESTDIR)$(SYSCONFDIR)/memobserver/memobserver.conf; \
	fi

# The configuration file stays: it may hold the administrator's settings.
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/memobserver \
	      $(DESTDIR)$(MANDIR)/man8/memobserver.8 \
	      $(DESTDIR)$(SYSTEMDUNITDIR)/memobserver.service
