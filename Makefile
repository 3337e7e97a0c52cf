# wgfwd — one flat GNU Makefile.
#   make            build wgfwd-agent, wgfwd-gateway and wgfwd
#   make check      every test: unit (plain and ASan/UBSan), kernel core, end to end in the lab,
#                   and the mutants each safeguard must fail (make check-mutants)
#   make demo       the whole system on one machine, in network namespaces
#   make deps       install the Debian packages the build, tests and demo need
#   make fuzz       build and run the libFuzzer harnesses (FUZZ_SECONDS each)
#   make bench      benchmarks: one run writes bench/RESULTS.md, README's benchmark section and
#                   the plots (BENCH_QUICK=1: a subset, report in build/bench/quick/)
#   make install    programs, man pages, systemd units, their user and example configs (PREFIX,
#                   DESTDIR, SYSCONFDIR, UNITDIR, SYSUSERSDIR)
#   make dist       a source tarball of a tag (TAG=v0.1.0), its version inside

PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR  ?= $(PREFIX)/share/man
# GNU's sysconfdir is $(PREFIX)/etc, so /usr/local/etc for the default prefix; a distribution
# prefix of /usr keeps its configuration in /etc, as Debian's and systemd's own packages do.
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
# systemd reads units from /usr/lib/systemd/system and /usr/local/lib/systemd/system alike.
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d

# The version: a source tarball (`make dist`) carries it in VERSION; a git checkout asks
# `git describe` for the nearest v* tag (0.0.0-g<commit> before the first one). Override with
# `make WGFWD_VERSION=...` (the Dockerfile does: its build context has no .git).
ifeq ($(origin WGFWD_VERSION),undefined)
ifneq ($(wildcard VERSION),)
WGFWD_VERSION := $(shell head -n1 VERSION)
else
WGFWD_VERSION := $(shell git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null | sed 's/^v//')
ifeq ($(WGFWD_VERSION),)
WGFWD_VERSION := 0.0.0-g$(or $(shell git rev-parse --short HEAD 2>/dev/null),unknown)
endif
endif
endif

# libcurl: the one contrib/libcurl-minimal builds from Debian's curl source into $(CURL_DIR)
# (HTTP over a Unix socket only, static: what the agent asks of it, without the thirty-odd
# libraries of the system's) when it is there, else the system's. `make libcurl' (and `make
# deps') builds it; `make LIBCURL=system' links the system's whatever.
CURL_DIR   ?= build-libcurl
LIBCURL    ?= $(if $(wildcard $(CURL_DIR)/lib/libcurl.a),minimal,system)
ifeq ($(LIBCURL),minimal)
CURL_CFLAGS := -I$(CURL_DIR)/include
CURL_LIBS   := $(CURL_DIR)/lib/libcurl.a
CURL_DEP    := $(CURL_DIR)/lib/libcurl.a
else ifeq ($(LIBCURL),system)
CURL_CFLAGS := $(shell pkg-config --cflags libcurl 2>/dev/null)
CURL_LIBS   := $(shell pkg-config --libs libcurl 2>/dev/null)
CURL_DEP    :=
else
$(error LIBCURL must be minimal or system, not $(LIBCURL))
endif
PKGS       := libnftnl libmnl json-c libevent libsodium
PKG_CFLAGS := $(CURL_CFLAGS) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(CURL_LIBS) $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CC      ?= cc
CFLAGS  ?= -O2 -g
B       ?= build
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
# Debian's hardening set (dpkg-buildflags with hardening=+all) plus _FORTIFY_SOURCE=3 (gcc 12,
# glibc 2.34 and later) and CET where the compiler targets x86. Kept apart from CFLAGS so that
# `make CFLAGS=...` keeps it; the sanitizer and fuzz builds turn it off (HARDEN=), since
# fortified libc calls hide bounds errors from ASan. tests/check-hardening.sh reads the ELF
# files to prove it took.
HARDEN  ?= 1
ifeq ($(HARDEN),1)
CET_FLAG := $(shell $(CC) -fcf-protection -x c -c -o /dev/null /dev/null 2>/dev/null && echo -fcf-protection)
HARDEN_CFLAGS  := -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3 -fstack-protector-strong -fstack-clash-protection \
	-Wformat -Werror=format-security -fPIE $(CET_FLAG)
HARDEN_LDFLAGS := -pie -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack
endif
override ALL_CFLAGS := -std=gnu11 -D_GNU_SOURCE -Iinclude $(WARN) $(PKG_CFLAGS) $(HARDEN_CFLAGS) $(CFLAGS) -MMD -MP
# Tests reach the programs' private headers as <wgfwd-agent/...>, <wgfwd-gateway/...>, <wgfwd/...>
# (the last beside the core's); the programs' own code includes its private headers by "name".
TEST_CFLAGS := -Iagent
override ALL_LDFLAGS := $(HARDEN_LDFLAGS) $(LDFLAGS)
LDLIBS  += $(PKG_LIBS)

ifeq ($(V),1)
Q :=
else
Q := @
endif

core_src    := $(wildcard agent/core/*.c)
version_obj := $(B)/gen/version.o
agent_src   := $(filter-out %/main.c,$(wildcard agent/wgfwd-agent/*.c))
gateway_src := $(filter-out %/main.c,$(wildcard agent/wgfwd-gateway/*.c))
cli_src     := $(filter-out %/main.c,$(wildcard agent/wgfwd/*.c))
unit_src    := $(wildcard tests/unit/test_*.c)
kernel_src  := $(wildcard tests/kernel/test_*.c)
docker_src  := $(wildcard tests/docker/test_*.c)
helper_src  := $(wildcard tests/helpers/*.c)
tool_src    := $(wildcard tests/tools/*.c)
fuzz_src    := $(wildcard tests/fuzz/fuzz_*.c)

objs = $(patsubst %.c,$(B)/%.o,$(1))

libs := $(B)/libwgfwd-agent.a $(B)/libwgfwd-gateway.a $(B)/libwgfwd-cli.a $(B)/libwgfwd-core.a
programs := $(B)/wgfwd-agent $(B)/wgfwd-gateway $(B)/wgfwd
unit_bins := $(patsubst tests/unit/%.c,$(B)/tests/%,$(unit_src))
kernel_bins := $(patsubst tests/kernel/%.c,$(B)/tests/%,$(kernel_src))
docker_bins := $(patsubst tests/docker/%.c,$(B)/tests/%,$(docker_src))
helper_bins := $(patsubst tests/helpers/%.c,$(B)/tests/%,$(helper_src))
tool_bins := $(patsubst tests/tools/%.c,$(B)/tests/%,$(tool_src))

.PHONY: all tests check dist distclean print-version print-libcurl FORCE check-unit check-san check-kernel check-e2e demo demo-run deps fuzz bench bench-run \
	format format-check install clean lab-up lab-down

all: $(programs)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

# Rewritten only when the version changes, so that only version.o is rebuilt then.
$(B)/gen/version.c: FORCE
	@mkdir -p $(dir $@)
	@printf '#include <wgfwd/version.h>\nconst char wf_version[] = "%s";\n' '$(WGFWD_VERSION)' >$@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv -f $@.tmp $@; fi

$(version_obj): $(B)/gen/version.c
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

print-version:
	@echo $(WGFWD_VERSION)

$(B)/libwgfwd-core.a: $(call objs,$(core_src)) $(version_obj)
$(B)/libwgfwd-agent.a: $(call objs,$(agent_src))
$(B)/libwgfwd-gateway.a: $(call objs,$(gateway_src))
$(B)/libwgfwd-cli.a: $(call objs,$(cli_src))
$(libs):
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

# Each program links its own library and the core, nothing else: a program that reached into
# another's code would not link.
$(B)/wgfwd-agent: $(B)/agent/wgfwd-agent/main.o $(B)/libwgfwd-agent.a $(B)/libwgfwd-core.a
$(B)/wgfwd-gateway: $(B)/agent/wgfwd-gateway/main.o $(B)/libwgfwd-gateway.a $(B)/libwgfwd-core.a
$(B)/wgfwd: $(B)/agent/wgfwd/main.o $(B)/libwgfwd-cli.a $(B)/libwgfwd-core.a
$(programs): $(CURL_DEP)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $(filter-out $(CURL_DEP),$^) $(LDLIBS)

$(B)/tests/%: tests/unit/%.c $(libs)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(libs) $(LDLIBS) -lcmocka

$(B)/tests/%: tests/kernel/%.c $(libs)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(libs) $(LDLIBS) -lcmocka

# Tests of the Docker client against a real engine: run in the lab by tests/e2e.
$(B)/tests/%: tests/docker/%.c $(libs)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(libs) $(LDLIBS) -lcmocka

# Test clients run on the lab's hosts (not in containers): they speak wgfwd's own protocols.
$(B)/tests/%: tests/tools/%.c $(libs)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(libs) $(LDLIBS)

# Small static programs the lab runs inside busybox containers (no libc in the image).
$(B)/tests/%: tests/helpers/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) -O2 -Wall -Wextra -Werror -static -o $@ $<

tests: $(unit_bins) $(kernel_bins) $(docker_bins) $(helper_bins) $(tool_bins)

SAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all

check: deps-if-missing
	$(Q)tests/check.sh

check-unit: $(programs) tests
	$(Q)tests/run-tests.sh unit $(unit_bins)

check-san:
	$(Q)$(MAKE) --no-print-directory B=build-san HARDEN= CFLAGS="$(SAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined" tests
	$(Q)ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		tests/run-tests.sh unit-asan $(patsubst $(B)/%,build-san/%,$(unit_bins))

check-kernel: $(programs) tests
	$(Q)tests/run-tests.sh kernel $(kernel_bins)

check-e2e: $(programs) tests
	$(Q)tests/e2e/run.sh

# Each safeguard removed from a copy of the tree must fail a test (tests/check-mutants.sh).
.PHONY: check-mutants
check-mutants: $(programs) tests
	$(Q)B=$(B) tests/check-mutants.sh

demo: deps-if-missing
	$(Q)$(MAKE) --no-print-directory demo-run

demo-run: $(programs) tests
	$(Q)tests/lab/demo.sh

lab-up: $(programs) tests
	$(Q)tests/lab/lab.sh up

lab-down:
	$(Q)tests/lab/lab.sh down

# The minimal libcurl is built after the packages; where it cannot be (no network, no
# deb-src), the system's is linked and tests/check-hardening.sh says so.
deps:
	$(Q)contrib/install-deps
	$(Q)contrib/libcurl-minimal --if-missing $(CURL_DIR) || true

.PHONY: deps-if-missing libcurl
deps-if-missing:
	$(Q)contrib/install-deps --if-missing
	$(Q)contrib/libcurl-minimal --if-missing $(CURL_DIR) || true

libcurl:
	$(Q)contrib/libcurl-minimal $(CURL_DIR)

print-libcurl:
	@echo '$(LIBCURL) $(CURL_CFLAGS) $(CURL_LIBS)'

FUZZ_SECONDS ?= 30
FUZZ_FLAGS := -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
fuzz:
	$(Q)$(MAKE) --no-print-directory B=build-fuzz HARDEN= CC=clang \
		CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined -Wno-missing-field-initializers" \
		$(patsubst tests/fuzz/%.c,build-fuzz/tests/%,$(fuzz_src))
	$(Q)tests/fuzz/run.sh $(FUZZ_SECONDS)

$(B)/tests/fuzz_%: tests/fuzz/fuzz_%.c $(libs)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS) $(FUZZ_FLAGS) -o $@ $< $(libs) $(LDLIBS)

# After deps, a make of its own: this one chose its libcurl before deps built the minimal one.
bench: deps-if-missing
	$(Q)$(MAKE) --no-print-directory bench-run

bench-run: $(programs) tests
	$(Q)bench/run.sh

format:
	$(Q)git ls-files '*.c' '*.h' | xargs -r clang-format -i

format-check:
	$(Q)git ls-files '*.c' '*.h' | xargs -r clang-format --dry-run -Werror

# The units' paths follow PREFIX and SYSCONFDIR; example configurations are installed only
# where none exists yet, never over a user's.
install: $(programs)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(SYSCONFDIR)/wgfwd
	install -m 0755 $(B)/wgfwd-agent $(B)/wgfwd-gateway $(DESTDIR)$(SBINDIR)/
	install -m 0755 $(B)/wgfwd $(DESTDIR)$(BINDIR)/
	for m in contrib/man/*.8; do [ -e "$$m" ] && install -m 0644 "$$m" $(DESTDIR)$(MANDIR)/man8/ || true; done
	for m in contrib/man/*.1; do [ -e "$$m" ] && install -m 0644 "$$m" $(DESTDIR)$(MANDIR)/man1/ || true; done
	for u in wgfwd-agent wgfwd-gateway; do \
		sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
			contrib/systemd/$$u.service.in >$(DESTDIR)$(UNITDIR)/$$u.service && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.service || exit 1; \
	done
	install -m 0644 contrib/sysusers.d/wgfwd.conf $(DESTDIR)$(SYSUSERSDIR)/wgfwd.conf
	for c in agent gateway; do \
		if [ -e $(DESTDIR)$(SYSCONFDIR)/wgfwd/$$c.conf ]; then \
			echo "kept $(DESTDIR)$(SYSCONFDIR)/wgfwd/$$c.conf"; \
		else \
			sed -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' contrib/config/$$c.conf.in \
				>$(DESTDIR)$(SYSCONFDIR)/wgfwd/$$c.conf && \
			chmod 0644 $(DESTDIR)$(SYSCONFDIR)/wgfwd/$$c.conf || exit 1; \
		fi; \
	done

# A source tarball of a tag: `git archive` of the tag, with VERSION holding the tag's version so
# that the unpacked tree (no .git) builds and says what it is. TAG defaults to the newest tag.
TAG     ?= $(shell git describe --tags --abbrev=0 --match 'v[0-9]*' 2>/dev/null)
DISTDIR ?= .
dist:
	@[ -n "$(TAG)" ] || { echo "make dist: no v* tag; give TAG=vX.Y.Z" >&2; exit 1; }
	@git rev-parse -q --verify "refs/tags/$(TAG)" >/dev/null || { echo "make dist: no tag $(TAG)" >&2; exit 1; }
	$(Q)set -e; v=$$(echo "$(TAG)" | sed 's/^v//'); tmp=$$(mktemp -d); \
	trap 'rm -rf "$$tmp"' EXIT; \
	echo "$$v" >"$$tmp/VERSION"; \
	git archive --format=tar.gz --prefix="wgfwd-$$v/" --add-file="$$tmp/VERSION" \
		-o "$(DISTDIR)/wgfwd-$$v.tar.gz" "$(TAG)"; \
	echo "$(DISTDIR)/wgfwd-$$v.tar.gz"

clean:
	rm -rf build build-san build-fuzz

# What clean keeps: the minimal libcurl, which takes a download and minutes to make again.
distclean: clean
	rm -rf $(CURL_DIR)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
