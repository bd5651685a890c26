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

.PHONY: deps test-deps build demo test test-swift check-protocol faults bench release clean

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
demo: build
	.build/debug/gapwatch demo

## Every test: unit, collector over HTTP, end to end with our binaries as processes, protocol files.
test: test-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build 2>&1 | tee .build/swift-test.log
	bash protocol/validate.sh 2>&1 | tee .build/protocol-validate.log
	@# One closing line for both runners (XCTest's summary is not the last thing swift test prints).
	@x=$$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with [0-9]+ failures?" .build/swift-test.log | tail -1); \
	 xp=$$(echo "$$x" | sed -E 's/.*Executed ([0-9]+) tests?, with ([0-9]+) failures?.*/\1 \2/'); \
	 p=$$(tail -1 .build/protocol-validate.log | sed -E 's/^([0-9]+) passed, ([0-9]+) failed.*/\1 \2/'); \
	 set -- $$xp $$p; echo "Tests: $$(( $$1 - $$2 + $$3 )) passed, $$(( $$2 + $$4 )) failed"

## The fault suite (faults/README.md): every faults/suite-*.sh against our binaries as processes,
## separate from `make test`; one closing `Faults: N passed, N failed` line.
faults: build
	bash faults/run.sh

release: deps
	$(SWIFT) build -c release
	$(SWIFT) build -c release --product gapwatch-agent --static-swift-stdlib --scratch-path .build-static

## Benchmarks (figures, not pass/fail): see bench/README.md.
bench: release
	bash bench/run.sh

clean:
	rm -rf .build .build-static
