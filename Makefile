# The two commands: `make run` (install, build, start chatd on embedded adapters in dev mode) and
# `make test` (install, check generated code, lint, run every test).
SHELL := /bin/bash
NODE_BIN := node_modules/.bin
# Unit and integration tests on embedded adapters; engine tests need real Redis, Kafka, Cassandra.
UNIT_SPECS := $(shell find internal cmd -name '*.spec.ts' ! -name '*.engine.spec.ts' ! -name '*.browser.spec.ts' 2>/dev/null | sort)
ENGINE_SPECS := $(shell find internal cmd -name '*.engine.spec.ts' 2>/dev/null | sort)
# The web client in real Chromium against chatd, run once by test-browser.
BROWSER_SPECS := $(shell find cmd -name '*.browser.spec.ts' 2>/dev/null | sort)
# chatd's integration tests, run a second time with every adapter on a real engine.
CHATD_SPECS := $(shell find cmd/chatd -name 'chatd-*.spec.ts' ! -name 'chatd-process.spec.ts' 2>/dev/null | sort)
# Clients in other languages against chatd (examples/java-client builds with Maven), run in test-unit.
EXAMPLE_SPECS := $(shell find examples -name '*.spec.ts' 2>/dev/null | sort)
# Structural checks of deploy/compose and deploy/k8s (YAML, settings, probes, images), run in test-unit.
DEPLOY_SPECS := deploy/deploy-files.spec.ts
# The distributed mesh as real processes (built dist/) on the real engines, run in test-engines.
E2E_SPECS := $(shell find e2e -name '*.e2e.spec.ts' 2>/dev/null | sort)
# Every spec file runs under a deadline, so a hung test fails by name instead of running into CI's
# limit: 10 min (the slowest file takes under one), 25 min for each of the fault suite's files.
TEST_FILE_TIMEOUT_MS := 600000
NODE_TEST = node --import tsx --test --test-force-exit --test-timeout=$(TEST_FILE_TIMEOUT_MS)
# buf breaking compares the contracts with main; on main itself that is a no-op.
BUF_BREAKING_AGAINST ?= .git\#branch=main

# chatd's defaults for `make run`: dev mode on (dev token endpoint, built-in dev secret).
export CHAT_DEV_MODE ?= true

.PHONY: install gen check-gen lint breaking build run run-cluster test test-unit test-engines engine-suites clean

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: node_modules/.installed

gen: install
	$(NODE_BIN)/buf generate
	node --import tsx cmd/protodoc/main.ts --out docs/api

# CI fails when gen/ or the API reference in docs/api/ is stale: regenerate and compare with what is committed.
check-gen: gen
	@git diff --exit-code --stat -- gen/ docs/api/ || { echo "gen/ or docs/api/ is stale: run 'make gen' and commit it"; exit 1; }
	@test -z "$$(git status --porcelain -- gen/ docs/api/)" || { git status --porcelain -- gen/ docs/api/; echo "gen/ or docs/api/ has untracked output: run 'make gen' and commit it"; exit 1; }

lint: install
	$(NODE_BIN)/buf lint
	$(NODE_BIN)/tsc -p tsconfig.json --noEmit
	$(NODE_BIN)/tsc -p examples/java-client/tsconfig.json --noEmit
	$(NODE_BIN)/tsc -p deploy/tsconfig.json --noEmit
	$(NODE_BIN)/eslint --max-warnings 0 .

breaking: install
	@if git rev-parse --verify -q main >/dev/null; then $(NODE_BIN)/buf breaking --against '$(BUF_BREAKING_AGAINST)'; else echo "no main branch to compare with"; fi

build: install web sdk
	rm -rf dist
	$(NODE_BIN)/tsc -p tsconfig.build.json

run: build
	node dist/cmd/chatd/main.js

# The distributed mesh on this machine: the engines and one process per service (deploy/local/cluster;
# CLUSTER_ARGS='--chat-servers 5'). `deploy/local/cluster down` stops it.
run-cluster: build
	deploy/local/cluster up $(CLUSTER_ARGS)

test-unit: install
	$(NODE_TEST) --test-concurrency=2 $(UNIT_SPECS) $(EXAMPLE_SPECS) $(DEPLOY_SPECS)

# Starts its own engines (fresh dirs, free ports: deploy/local/with-test-engines), runs the engine
# tests against them, stops them. Fails, never skips, when an engine cannot start.
test-engines: install
	deploy/local/with-test-engines $(MAKE) --no-print-directory engine-suites

# Needs CHAT_REDIS_URL, CHAT_REDIS_CLUSTER_NODES, CHAT_KAFKA_BROKERS, CHAT_CASSANDRA_CONTACT_POINTS
# (from deploy/local/up all redis-cluster).
engine-suites:
	$(NODE_TEST) --test-concurrency=1 $(ENGINE_SPECS)
	CHAT_TEST_ADAPTERS=engines $(NODE_TEST) --test-concurrency=1 $(CHATD_SPECS)
	$(NODE_TEST) --test-concurrency=1 $(E2E_SPECS)

test: check-gen lint breaking build test-unit test-browser test-engines test-faults test-ha

# The fault suite (issue #7, docs/GUARANTEES.md): the mesh as real processes (built dist/) on its own
# engines, one fault per scenario under a seeded load, then a checker of the recorded history.
# The seed is printed; FAULT_SEED=<n> replays a run's sends. Installs Debian's faketime when missing.
FAULT_SPECS := $(shell find e2e -name '*.faults.spec.ts' 2>/dev/null | sort)
.PHONY: test-faults
test-faults: TEST_FILE_TIMEOUT_MS := 1500000
test-faults: build
	deploy/local/with-test-engines $(NODE_TEST) --test-concurrency=1 $(FAULT_SPECS)

# High availability (issue #17): the mesh with two replicas of every service on replicated engines
# (deploy/local/with-test-engines --ha: 3 Kafka brokers, 3 Cassandra nodes, Redis with a replica
# and Sentinel); each scenario kills one node of something under load, then the fault checker runs.
HA_SPECS := $(shell find e2e -name '*.ha.spec.ts' 2>/dev/null | sort)
.PHONY: test-ha
test-ha: TEST_FILE_TIMEOUT_MS := 1500000
test-ha: build
	deploy/local/with-test-engines --ha $(NODE_TEST) --test-concurrency=1 $(HA_SPECS)

clean:
	rm -rf dist node_modules data web/dist

.PHONY: sdk
# The client SDK package @chat-mesh/client (packages/client): internal/client/index.ts bundled by
# esbuild for any platform (a Node builtin fails the build) into packages/client/dist, ESM + CJS +
# declarations. `npm pack packages/client` packs it; internal/client/sdk-package.spec.ts installs
# the tarball into a fresh project and uses it from require() and import.
sdk: install
	node --import tsx packages/client/build.ts

.PHONY: web browser test-browser
# The web client (web/src: Preact + htm, JSON frames encoded by the code in gen/) bundled by esbuild
# into web/dist, which chatd serves at / (CHAT_WEB_DIR). No CDN: everything is in the bundle.
web: install
	$(NODE_BIN)/tsc -p web/tsconfig.json
	rm -rf web/dist && mkdir -p web/dist
	$(NODE_BIN)/esbuild web/src/main.ts --bundle --format=esm --target=es2022 --minify --sourcemap \
	  --alias:@grpc/grpc-js=./internal/client/grpc-stub.ts --log-level=warning --outfile=web/dist/app.js
	cp web/index.html web/styles.css web/dist/

# Debian's Chromium for the browser tests, installed when missing (as root, else with sudo).
browser:
	@command -v chromium >/dev/null || { s=$$([ "$$(id -u)" = 0 ] || echo sudo); $$s apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$s apt-get install -y -qq chromium; }

# The web client in real Chromium (cmd/**/*.browser.spec.ts); failures leave screenshots in test-results/browser/.
test-browser: web browser
	$(NODE_TEST) --test-concurrency=1 $(BROWSER_SPECS)

# Benchmarks (issues #6, #14 and #16): embedded chatd and the bare ws relays of bench/baselines, then
# the mesh (its own engines and deploy/local/cluster on free ports, from dist/, torn down at the end):
# history on Cassandra; #14's idle cost of 10,000 users and their connect burst, the open-loop
# cross-server DM ramp to the highest sustained rate, a group of 500 at 15k deliveries/s and DMs over
# the forced Kafka fallback at 1,000/s; cross-server dm and group over the relay and the fallback;
# #16's flat per-server cost (mesh-flat: the same load per chat server on 2, 4, 8 and 16 of them,
# each server's CPU and inbox items compared); 60,000 connections. Runs alternated, BENCH_RUNS each,
# from dist/; writes docs/BENCHMARKS.md and bench/results.json. About 50 min; not part of
# `make test`. BENCH_ONLY=embedded, mesh or issue-14 (or step names, e.g. mesh-ramp) runs a part.
BENCH_RUNS ?= 3
BENCH_ONLY ?=
.PHONY: bench
bench: build
	node --import tsx cmd/loadgen/main.ts suite --runs $(BENCH_RUNS) $(if $(BENCH_ONLY),--only $(BENCH_ONLY))
