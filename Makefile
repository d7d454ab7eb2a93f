# hubgate — build, run, test, bench, lint.
#
#   make run     build, migrate, seed, start upstream + gateway (Ctrl-C stops both)
#   make reload  apply an edited Caddyfile to the gateway make run started
#   make test    go test -race ./... (unit, integration, end-to-end on real binaries)
#   make bench   loopback load: direct upstream vs bare Caddy vs hubgate
#   make sdk     regenerate sdk/ (TypeScript + Go clients) from the served OpenAPI documents

GO      ?= go
BIN     := $(CURDIR)/bin
DATA    := $(CURDIR)/data

.PHONY: all build run reload test test-short bench lint fmt vet clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/hubchantier ./cmd/hubchantier
	$(GO) build -o $(BIN)/hubgate ./cmd/hubgate

# make run / make reload: deploy/dev.sh does the work (its header says how).
# The settings the running processes got live in data/hubgate.env, written
# by `make run` on every start (HUB_* from your environment win and are kept)
# and read alone by `make reload`, so a reload from any shell keeps the
# running gateway's issuer, audit journal, store and secret. Everything,
# Caddy's autosave and storage included, stays under data/. Ctrl-C exits 0.
run: build
	@DATA=$(DATA) BIN=$(BIN) ./deploy/dev.sh run

# Applies the Caddyfile (and data/hubgate.env) to the gateway `make run`
# started, without dropping a request: hubgate reload --config Caddyfile
# --adapter caddyfile --address $$HUB_ADMIN_LISTEN with that env file only.
reload:
	@DATA=$(DATA) BIN=$(BIN) ./deploy/dev.sh reload

# HUB_BIN_DIR lets the end-to-end suite use the binaries just built instead
# of building its own.
test: build
	HUB_BIN_DIR=$(BIN) $(GO) test -race -count=1 -timeout 40m ./...

test-short:
	$(GO) test -race -short ./...

bench: build
	HUB_BIN_DIR=$(BIN) $(GO) run ./integration/bench

lint: fmt vet

fmt:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

clean:
	rm -rf $(BIN)

# The developer console's vendored browser assets (docs/console.md): npm ci
# from upstream/console/web/package-lock.json, then the built files are
# copied into upstream/console/static/vendor, which is committed and
# embedded (make run needs neither npm nor the network).
SWAGGER_UI := upstream/console/web/node_modules/swagger-ui-dist
.PHONY: console-assets
console-assets:
	cd upstream/console/web && npm ci --ignore-scripts --no-audit --no-fund
	mkdir -p upstream/console/static/vendor/swagger-ui
	cp $(SWAGGER_UI)/swagger-ui-bundle.js $(SWAGGER_UI)/swagger-ui-bundle.js.LICENSE.txt \
		$(SWAGGER_UI)/swagger-ui.css $(SWAGGER_UI)/LICENSE $(SWAGGER_UI)/NOTICE \
		upstream/console/static/vendor/swagger-ui/
	rm -rf upstream/console/web/node_modules

# Typed clients (docs/sdk.md): sdkgen starts the built binaries on loopback,
# saves /api/openapi.json and /api/v2/openapi.json into sdk/openapi and
# regenerates sdk/go/hubclient/types_gen.go; openapi-typescript (npm ci from
# sdk/typescript/package-lock.json) then writes sdk/typescript/src/v*.ts and
# tsc type-checks the package. Commit the results: tests fail on drift.
.PHONY: sdk
sdk: build
	HUB_BIN_DIR=$(BIN) $(GO) run ./sdk/cmd/sdkgen
	cd sdk/typescript && npm ci --no-audit --no-fund && npm run --silent generate && npm run --silent typecheck
