# Gapwatch. `make demo` runs the main job, `make test` runs every test; both install what a fresh
# Debian/Ubuntu machine with Swift 6 lacks (libcurl4-openssl-dev, zlib1g-dev, libsqlite3-dev; for
# the tests also promtool from `prometheus`, chromium-headless-shell, the sqlite3 CLI and two Python packages).
SWIFT ?= swift
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
APT_PACKAGES := libcurl4-openssl-dev zlib1g-dev libsqlite3-dev
# MetricsTests parse /metrics with promtool; DashboardTests render pages in headless Chromium;
# protocol/validate.sh checks the OpenAPI file and golden examples with Python.
TEST_APT_PACKAGES := prometheus chromium-headless-shell python3-pip sqlite3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps test-deps build demo test test-swift check-protocol faults bench release gapwatch-release agent-static \
	install install-built uninstall clean format format-check

# `make install` (README "Installing"): where things go. DESTDIR stages them (packaging, tests).
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share/gapwatch
SYSTEMD_UNIT_DIR ?= $(PREFIX)/lib/systemd/system
CONFDIR ?= /etc/gapwatch
# The binaries `make install-built` copies (`make install` builds them first).
GAPWATCH_BIN ?= .build/release/gapwatch
AGENT_BIN ?= .build-static/release/gapwatch-agent
STRIP ?= strip
OBJCOPY ?= objcopy

# The static-stdlib agent's link, for a small resident footprint (bench/README.md, "Agent memory"):
# lld with packed relative relocations (DT_RELR, glibc 2.36+: the 0.9 MiB relocation table is no
# longer read at each start), no exported symbol table, and libstdc++ (which the Swift runtime
# needs) linked in, instead of mapping all of the shared libstdc++. Each part is skipped where the
# toolchain or libc lacks it; the agent works the same either way.
SWIFT_BIN_DIR := $(dir $(realpath $(shell command -v $(SWIFT))))
AGENT_CXX_DIR := $(CURDIR)/.build-static/libstdc++
AGENT_LINK_FLAGS := $(if $(wildcard $(SWIFT_BIN_DIR)ld.lld),-Xswiftc -use-ld=lld -Xlinker --no-export-dynamic \
	$(if $(shell getconf GNU_LIBC_VERSION 2>/dev/null | awk '{ split($$2, v, "."); if (v[1] > 2 || (v[1] == 2 && v[2] >= 36)) print "yes" }'),-Xlinker -z -Xlinker pack-relative-relocs)) \
	-Xswiftc -L$(AGENT_CXX_DIR)

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

test-deps: deps
	@missing=""; for p in $(TEST_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq; \
	  for p in $$missing; do \
	    flags=""; [ $$p = prometheus ] && flags="--no-install-recommends"; \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$flags $$p; \
	  done; \
	fi
	@python3 -c 'import openapi_spec_validator, jsonschema' 2>/dev/null || python3 -m pip install -q openapi-spec-validator jsonschema

build: deps
	$(SWIFT) build

## The main job: a collector on its embedded default with an agent beside it, data arriving.
## `make demo PORT=7171` runs the collector on another port (`gapwatch demo --port 7171`); only a
## PORT given on the command line counts, not one in the environment.
demo: build
	.build/debug/gapwatch demo$(if $(filter command line,$(origin PORT)), --port $(PORT))

## Every test: unit, collector over HTTP, end to end with our binaries as processes, protocol files.
test: test-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build 2>&1 | tee .build/swift-test.log
	bash protocol/validate.sh 2>&1 | tee .build/protocol-validate.log
	@# No type-reference cycle between the collector's folders (scripts/folder-cycles.py): one check.
	{ python3 scripts/folder-cycles.py --self-test && python3 scripts/folder-cycles.py; echo "folder-cycles exit $$?"; } 2>&1 \
	  | tee .build/folder-cycles.log
	@# The tree is formatted by .swift-format (`make format` fixes it): one check.
	{ $(SWIFT) format lint --strict --recursive --parallel $(FORMAT_PATHS); echo "format-check exit $$?"; } 2>&1 | tee .build/format-check.log
	@# One closing line for the runners (XCTest's summary is not the last thing swift test prints).
	@x=$$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with [0-9]+ failures?" .build/swift-test.log | tail -1); \
	 xp=$$(echo "$$x" | sed -E 's/.*Executed ([0-9]+) tests?, with ([0-9]+) failures?.*/\1 \2/'); \
	 p=$$(tail -1 .build/protocol-validate.log | sed -E 's/^([0-9]+) passed, ([0-9]+) failed.*/\1 \2/'); \
	 c=$$(tail -1 .build/folder-cycles.log | grep -q '^folder-cycles exit 0$$' && echo "1 0" || echo "0 1"); \
	 f=$$(tail -1 .build/format-check.log | grep -q '^format-check exit 0$$' && echo "1 0" || echo "0 1"); \
	 set -- $$xp $$p $$c $$f; echo "Tests: $$(( $$1 - $$2 + $$3 + $$5 + $$7 )) passed, $$(( $$2 + $$4 + $$6 + $$8 )) failed"

## The fault suite (faults/README.md): every faults/suite-*.sh against our binaries as processes,
## separate from `make test`; one closing `Faults: N passed, N failed` line.
faults: build
	bash faults/run.sh

release: gapwatch-release agent-static

gapwatch-release: deps
	$(SWIFT) build -c release

## The agent as installed: release, Swift runtime linked in (no Swift toolchain on the host).
agent-static: deps
	@mkdir -p $(AGENT_CXX_DIR); lib=$$($(SWIFT_BIN_DIR)clang -print-file-name=libstdc++.a 2>/dev/null); \
	 if [ -f "$$lib" ]; then ln -sfn "$$lib" $(AGENT_CXX_DIR)/libstdc++.a; \
	 else rm -f $(AGENT_CXX_DIR)/libstdc++.a; echo "no libstdc++.a: the agent links the shared libstdc++"; fi
	$(SWIFT) build -c release --product gapwatch-agent --static-swift-stdlib --scratch-path .build-static $(AGENT_LINK_FLAGS)

## Installs gapwatch (release) and gapwatch-agent (release, static Swift runtime), stripped, to
## $(BINDIR); the systemd units, with their paths set to BINDIR and CONFDIR, to $(SYSTEMD_UNIT_DIR);
## the example configs to $(DATADIR), and to $(CONFDIR)/*.yaml only where no config is there yet.
install: release
	@$(MAKE) --no-print-directory install-built

## The install step alone, from binaries already built (GAPWATCH_BIN, AGENT_BIN): `make release`
## as yourself, then `sudo make install-built`, keeps root out of the build folders.
install-built:
	@for b in $(GAPWATCH_BIN) $(AGENT_BIN); do [ -x "$$b" ] || { echo "$$b is not built (make release)"; exit 1; }; done
	install -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR) $(DESTDIR)$(SYSTEMD_UNIT_DIR) $(DESTDIR)$(CONFDIR)
	install -m 0755 $(GAPWATCH_BIN) $(DESTDIR)$(BINDIR)/gapwatch
	install -m 0755 $(AGENT_BIN) $(DESTDIR)$(BINDIR)/gapwatch-agent
	$(STRIP) $(DESTDIR)$(BINDIR)/gapwatch $(DESTDIR)$(BINDIR)/gapwatch-agent
	@# The commit goes into the installed copies (an unloaded ELF section that --version reads), so
	@# the build itself never needs git and is not redone per commit.
	@commit=$$(git rev-parse --short=12 HEAD 2>/dev/null || true); \
	 if [ -n "$$commit" ] && command -v $(OBJCOPY) >/dev/null; then \
	   git diff --quiet HEAD 2>/dev/null || commit=$$commit-dirty; \
	   stamp=$$(mktemp); printf '%s' "$$commit" >"$$stamp"; \
	   for b in gapwatch gapwatch-agent; do \
	     $(OBJCOPY) --add-section .gapwatch.commit="$$stamp" --set-section-flags .gapwatch.commit=noload,readonly $(DESTDIR)$(BINDIR)/$$b; \
	   done; rm -f "$$stamp"; echo "stamped commit $$commit"; \
	 fi
	for u in agent/gapwatch-agent.service collector/gapwatch-collector.service; do \
	  sed -e 's|/usr/local/bin/|$(BINDIR)/|g' -e 's|/etc/gapwatch/|$(CONFDIR)/|g' $$u >$(DESTDIR)$(SYSTEMD_UNIT_DIR)/$$(basename $$u); \
	  chmod 0644 $(DESTDIR)$(SYSTEMD_UNIT_DIR)/$$(basename $$u); \
	done
	install -m 0644 collector/collector.example.yaml agent/agent.example.yaml $(DESTDIR)$(DATADIR)/
	@# A config already there is the user's: never overwritten, not even when it equals the example.
	@for c in collector agent; do \
	  if [ -e $(DESTDIR)$(CONFDIR)/$$c.yaml ]; then \
	    echo "kept $(DESTDIR)$(CONFDIR)/$$c.yaml (yours); the new example is $(DESTDIR)$(DATADIR)/$$c.example.yaml"; \
	  else \
	    install -m 0644 $$c/$$c.example.yaml $(DESTDIR)$(CONFDIR)/$$c.yaml; \
	    echo "installed $(DESTDIR)$(CONFDIR)/$$c.yaml from the example: edit it"; \
	  fi; \
	done
	@echo "next: systemctl daemon-reload && systemctl enable --now gapwatch-collector (and gapwatch-agent)"

## Removes what `make install` put in place, with the same PREFIX/DESTDIR. The configs in $(CONFDIR)
## are yours (edited or not) and stay.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/gapwatch $(DESTDIR)$(BINDIR)/gapwatch-agent
	rm -f $(DESTDIR)$(SYSTEMD_UNIT_DIR)/gapwatch-agent.service $(DESTDIR)$(SYSTEMD_UNIT_DIR)/gapwatch-collector.service
	rm -f $(DESTDIR)$(DATADIR)/collector.example.yaml $(DESTDIR)$(DATADIR)/agent.example.yaml
	@[ ! -d $(DESTDIR)$(DATADIR) ] || rmdir --ignore-fail-on-non-empty $(DESTDIR)$(DATADIR)
	@for c in collector agent; do [ -e $(DESTDIR)$(CONFDIR)/$$c.yaml ] && echo "kept $(DESTDIR)$(CONFDIR)/$$c.yaml (your config; remove it yourself)"; done; true

## Benchmarks (figures, not pass/fail): see bench/README.md.
bench: release
	bash bench/run.sh

## Formatting with the toolchain's swift-format and the top-level .swift-format (the tool's defaults
## but 4-space indents and 150 columns, as the anchors; no lint of snake_case wire names or explicit
## initializers, nor of a trailing closure after closure arguments, as PeriodicService's pass). `make format` rewrites the files in place; `make format-check` changes nothing and
## fails on any file that is not formatted so (or breaks a lint rule), naming file, line and rule.
FORMAT_PATHS := Package.swift Sources Tests
format:
	$(SWIFT) format format --in-place --recursive --parallel $(FORMAT_PATHS)

format-check:
	$(SWIFT) format lint --strict --recursive --parallel $(FORMAT_PATHS)

clean:
	rm -rf .build .build-static
