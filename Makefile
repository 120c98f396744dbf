# corral: build, install, test. `make demo` and `make check` are the two commands a newcomer needs.

PREFIX      ?= /usr/local
DESTDIR     ?=
SYSCONFDIR  ?= /etc
UNITDIR     ?= /lib/systemd/system
UDEVDIR     ?= /lib/udev/rules.d

CC          ?= cc
CLANG       ?= clang
PKG_CONFIG  ?= pkg-config
PKGS        := libmicrohttpd libwebsockets jansson libserialport libudev sqlite3 libpq libsystemd zlib libcrypto libpcre2-8 libdw libelf
PKG_CFLAGS  := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
TEST_LIBS   := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)
UMOCK_CFLAGS:= $(shell $(PKG_CONFIG) --cflags umockdev-1.0 2>/dev/null)
UMOCK_LIBS  := $(shell $(PKG_CONFIG) --libs umockdev-1.0 2>/dev/null)

WARN        := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wstrict-prototypes -Wformat=2
CPPFLAGS    += -D_GNU_SOURCE -Idaemon -Iapi -MMD -MP
CFLAGS      ?= -O2 -g
BASE_CFLAGS := -std=c11 $(WARN) $(PKG_CFLAGS) -pthread
SAN_FLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# Sources: every .c under daemon/ and api/; main.c only goes into the daemon binary, api/client/
# only into the corral CLI (junit.c included; its unit test links that one object).
LIB_SRCS    := $(sort $(shell find daemon api -name '*.c' ! -path daemon/main.c ! -path 'api/client/*'))
CLI_SRCS    := $(sort $(wildcard api/client/*.c))
CLI_CFLAGS  := $(shell $(PKG_CONFIG) --cflags libcurl 2>/dev/null)
CLI_LIBS    := $(shell $(PKG_CONFIG) --libs libcurl libwebsockets jansson libcrypto 2>/dev/null)
MAIN_SRC    := daemon/main.c
UNIT_SRCS   := $(sort $(wildcard tests/unit/test_*.c))
UNIT_HELPERS:= $(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.c))
FUZZ_SRCS   := $(sort $(wildcard tests/fuzz/fuzz_*.c))
TOOL_SRCS   := $(sort $(wildcard tests/tools/*.c))

B           := build
# Release flavour (demo, install, bench)
REL_OBJS    := $(LIB_SRCS:%.c=$(B)/rel/%.o)
# Sanitized flavour (make check)
SAN_OBJS    := $(LIB_SRCS:%.c=$(B)/san/%.o)
UNIT_BINS   := $(UNIT_SRCS:tests/unit/%.c=$(B)/san/tests/%)
UNIT_HOBJS  := $(UNIT_HELPERS:%.c=$(B)/san/%.o)
FUZZ_BINS   := $(FUZZ_SRCS:tests/fuzz/%.c=$(B)/fuzz/%)
TOOL_BINS   := $(TOOL_SRCS:tests/tools/%.c=$(B)/tools/%)
FUZZ_OBJS   := $(LIB_SRCS:%.c=$(B)/fuzz/obj/%.o)

.PHONY: all corrald corral check check-build unit fuzz fuzz-check bench demo deps install clean web lab-check distcheck tsan
all: corrald corral

corrald: $(B)/corrald

# The CLI (release flags; the integration tests drive this binary).
corral: $(B)/corral

$(CLI_SRCS:%.c=$(B)/rel/%.o): CPPFLAGS += $(CLI_CFLAGS)

# The CLI shares the daemon's clock and UTF-8 helpers (daemon/util.c, daemon/utf8.c).
$(B)/corral: $(CLI_SRCS:%.c=$(B)/rel/%.o) $(B)/rel/daemon/util.o $(B)/rel/daemon/utf8.o
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $^ $(CLI_LIBS) -lm

$(B)/corrald: $(B)/rel/daemon/main.o $(B)/rel/libcorral.a
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(B)/rel/libcorral.a: $(REL_OBJS)
	@rm -f $@; ar rcs $@ $^

# An installed corrald finds the flasher stubs (make install puts them here) without a stub_dir.
$(B)/rel/daemon/engines/esp/esp_stub.o: CPPFLAGS += -DCORRAL_STUB_DIR='"$(PREFIX)/share/corral/stubs"'

$(B)/rel/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(BASE_CFLAGS) $(CFLAGS) -c -o $@ $<

# --- sanitized build for tests ---
$(B)/san/corrald: $(B)/san/daemon/main.o $(B)/san/libcorral.a
	$(CC) $(BASE_CFLAGS) -O1 -g $(SAN_FLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(B)/san/libcorral.a: $(SAN_OBJS)
	@rm -f $@; ar rcs $@ $^

$(B)/san/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Itests/unit $(UMOCK_CFLAGS) $(BASE_CFLAGS) -O1 -g $(SAN_FLAGS) -c -o $@ $<

$(B)/san/tests/%: $(B)/san/tests/unit/%.o $(UNIT_HOBJS) $(B)/san/libcorral.a
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -O1 -g $(SAN_FLAGS) -o $@ $(filter %.o %.a,$^) $(PKG_LIBS) $(TEST_LIBS) $(UMOCK_LIBS) -lm

# The JUnit writer belongs to the CLI; its unit test links it from there (with the UTF-8 rule it uses).
$(B)/san/tests/test_junit: $(B)/san/api/client/junit.o $(B)/san/daemon/utf8.o

# Test tools (helpers the Node suites drive, e.g. a umockdev testbed), sanitized.
$(B)/tools/%: $(B)/san/tests/tools/%.o $(B)/san/libcorral.a
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -O1 -g $(SAN_FLAGS) -o $@ $(filter %.o %.a,$^) $(PKG_LIBS) $(UMOCK_LIBS) -lm

# Misbehaving cmocka programs for the test runner's own tests (tests/runner), sanitized alike.
RUNNER_FIXTURES := $(patsubst tests/runner/fixtures/%.c,$(B)/san/runner/%,$(wildcard tests/runner/fixtures/fx_*.c))
$(B)/san/runner/%: tests/runner/fixtures/%.c tests/runner/fixtures/fx_common.h
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -O1 -g $(SAN_FLAGS) -o $@ $< $(TEST_LIBS)

# --- ThreadSanitizer flavour (make tsan): corrald under the integration suites that use threads ---
TSAN_FLAGS  := -fsanitize=thread -fno-omit-frame-pointer
$(B)/tsan/corrald: $(B)/tsan/daemon/main.o $(B)/tsan/libcorral.a
	$(CLANG) $(BASE_CFLAGS) -O1 -g $(TSAN_FLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(B)/tsan/libcorral.a: $(LIB_SRCS:%.c=$(B)/tsan/%.o)
	@rm -f $@; ar rcs $@ $^

$(B)/tsan/%.o: %.c
	@mkdir -p $(@D)
	$(CLANG) $(CPPFLAGS) $(BASE_CFLAGS) -O1 -g $(TSAN_FLAGS) -c -o $@ $<

tsan: deps
	@$(MAKE) --no-print-directory $(B)/tsan/corrald $(B)/corral $(TOOL_BINS) web
	tests/run-tsan

# --- libFuzzer targets (clang) ---
$(B)/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CLANG) $(CPPFLAGS) $(BASE_CFLAGS) -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -c -o $@ $<

$(B)/fuzz/libcorral.a: $(FUZZ_OBJS)
	@rm -f $@; ar rcs $@ $^

$(B)/fuzz/%: tests/fuzz/%.c $(B)/fuzz/libcorral.a
	@mkdir -p $(@D)
	$(CLANG) $(CPPFLAGS) $(BASE_CFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -o $@ $(filter %.c %.a,$^) $(PKG_LIBS) -lm

FUZZ_SECONDS ?= 300
fuzz: $(FUZZ_BINS)
	tests/run-fuzz $(FUZZ_SECONDS) $(FUZZ_BINS)

# Short fuzz runs on the committed corpus, part of make check (one target per parser, 10 s each, keeps make
# check well under 20 minutes; `make fuzz` runs them long).
FUZZ_CHECK_SECONDS ?= 10
fuzz-check: $(FUZZ_BINS)
	tests/run-fuzz $(FUZZ_CHECK_SECONDS) $(FUZZ_BINS)

# --- tests ---
unit: $(UNIT_BINS)
	tests/run-unit $(UNIT_BINS)

# deps first, then a fresh make that sees the installed packages' pkg-config flags.
check: deps
	@$(MAKE) --no-print-directory check-build
	tests/run-all

check-build: $(B)/san/corrald $(B)/tsan/corrald $(B)/corrald $(B)/corral $(UNIT_BINS) $(FUZZ_BINS) $(TOOL_BINS) $(RUNNER_FIXTURES) web

bench: deps
	@$(MAKE) --no-print-directory $(B)/corrald $(TOOL_BINS) web
	@$(MAKE) --no-print-directory install DESTDIR=$(STAGE) >/dev/null
	CORRALD_INSTALLED=$(STAGE)$(PREFIX)/sbin/corrald tests/bench/run

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The console's third-party files go into web/vendor/ (git-ignored): corrald serves only files
# under its web root, so `--web-root web` from the repo and the installed copy both find them.
# The code editor (CodeMirror 6) is bundled by esbuild from web/src/ (ours) and the locked npm packages.
web: node_modules/.package-lock.json
	@mkdir -p web/vendor
	cp node_modules/@xterm/xterm/lib/xterm.js node_modules/@xterm/xterm/css/xterm.css \
	   node_modules/@xterm/addon-fit/lib/addon-fit.js web/vendor/
	cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css web/vendor/
	node_modules/.bin/esbuild web/src/editor.js --bundle --format=esm --minify --log-level=warning \
	   --outfile=web/vendor/editor.js

# Debian packages the build, the lab and the tests need (installed only when missing).
APT_PKGS := build-essential pkg-config clang libclang-rt-14-dev \
	libmicrohttpd-dev libwebsockets-dev libjansson-dev libserialport-dev libudev-dev \
	libsqlite3-dev libpq-dev postgresql libsystemd-dev zlib1g-dev libssl-dev libcmocka-dev libcurl4-openssl-dev libpcre2-dev \
	umockdev libumockdev-dev qemu-system-arm firmware-microbit-micropython binutils-arm-none-eabi \
	libdw-dev libelf-dev lld binutils-xtensa-lx106 \
	chromium socat systemd wrk ca-certificates python3 python3-serial python3-yaml
# Node.js >= 20 for the lab and the tests: the system's node when it is new enough, else (Debian 12
# ships 18) the pinned tests/node-runtime/linux-<cpu> (the npm registry's node-linux-<cpu>, the node
# binary inside) installed with the system's npm into build/node-runtime, whose bin/ comes first on
# PATH for every recipe: npm, the runners, `#!/usr/bin/env node` scripts and what they spawn.
# Debian's nodejs + npm are installed when no node is there (a NodeSource nodejs already bundles
# npm and conflicts with Debian's npm package).
NODE_RT     := $(abspath $(B))/node-runtime
ifeq ($(filter $(NODE_RT)/bin,$(subst :, ,$(PATH))),)
export PATH := $(NODE_RT)/bin:$(PATH)
endif
node_major   = $$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
deps:
	@missing=$$(for p in $(APT_PKGS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done; \
	  command -v node >/dev/null || echo nodejs; command -v npm >/dev/null || echo npm); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing $$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "make deps: run as root (or install: $$missing)" >&2; exit 1; fi; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi
	@rt=tests/node-runtime/linux-$$(node -p process.arch); \
	if [ "$(node_major)" -lt 20 ] || \
	   { [ -e $(NODE_RT)/package-lock.json ] && ! cmp -s $$rt/package-lock.json $(NODE_RT)/package-lock.json; }; then \
	  echo "make deps: the system's Node.js is $$(PATH=$${PATH#$(NODE_RT)/bin:} node --version); installing $$rt (Node.js 20) into $(NODE_RT)"; \
	  if [ ! -d "$$rt" ]; then echo "make deps: no pinned Node.js 20 for this machine in tests/node-runtime" >&2; exit 1; fi; \
	  rm -rf $(NODE_RT) && mkdir -p $(NODE_RT)/bin && cp $$rt/package.json $$rt/package-lock.json $(NODE_RT)/ && \
	  (cd $(NODE_RT) && npm ci --no-audit --no-fund --loglevel=error) && \
	  ln -s ../node_modules/.bin/node $(NODE_RT)/bin/node && hash -r || exit 1; \
	  if [ "$(node_major)" -lt 20 ]; then echo "make deps: $(NODE_RT)/bin/node does not run here" >&2; exit 1; fi; \
	  echo "make deps: using $$(command -v node) $$(node --version)"; \
	fi
	@$(MAKE) --no-print-directory node_modules/.package-lock.json

# A new Debian 12 (debootstrap minbase chroot) runs `make demo` and `make check` on a clone of the
# current commit. Root; slow; not part of `make check`.
.PHONY: fresh-check
fresh-check:
	tests/fresh-check/run

# demo and bench run corrald as installed (flasher stubs and all), staged under $(STAGE).
STAGE       := $(CURDIR)/$(B)/stage
STUB_SRC    := node_modules/esptool-js/lib/targets/stub_flasher
demo: deps
	@$(MAKE) --no-print-directory install DESTDIR=$(STAGE) >/dev/null
	CORRALD_INSTALLED=$(STAGE)$(PREFIX)/sbin/corrald tests/demo/run

install: $(B)/corrald $(B)/corral web node_modules/.package-lock.json
	install -D -m 0755 $(B)/corrald $(DESTDIR)$(PREFIX)/sbin/corrald
	install -D -m 0755 $(B)/corral $(DESTDIR)$(PREFIX)/bin/corral
	install -D -m 0644 systemd/corrald.service $(DESTDIR)$(UNITDIR)/corrald.service
	sed -i 's#/usr/local#$(PREFIX)#g' $(DESTDIR)$(UNITDIR)/corrald.service
	install -D -m 0644 systemd/60-corral.rules $(DESTDIR)$(UDEVDIR)/60-corral.rules
	install -d $(DESTDIR)$(PREFIX)/share/corral/web
	cp -r web/. $(DESTDIR)$(PREFIX)/share/corral/web/
	install -d $(DESTDIR)$(PREFIX)/share/corral/stubs
	install -m 0644 $(STUB_SRC)/*.json $(DESTDIR)$(PREFIX)/share/corral/stubs/
	test -e $(DESTDIR)$(SYSCONFDIR)/corral/corrald.conf || \
	  install -D -m 0640 systemd/corrald.conf.example $(DESTDIR)$(SYSCONFDIR)/corral/corrald.conf

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' -type f 2>/dev/null)
