# hubgate — build, run, test, bench, lint.
#
#   make run     build, migrate, seed, start upstream + gateway (Ctrl-C stops both)
#   make test    go test -race ./... (unit, integration, end-to-end on real binaries)
#   make bench   loopback load: direct upstream vs bare Caddy vs hubgate

GO      ?= go
BIN     := $(CURDIR)/bin
DATA    := $(CURDIR)/data

export HUB_DB ?= $(DATA)/hub.db

.PHONY: all build run test test-short bench lint fmt vet clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/hubchantier ./cmd/hubchantier
	$(GO) build -o $(BIN)/hubgate ./cmd/hubgate

# A generated secret is kept in data/ so restarts keep working; an
# HUB_GATEWAY_SECRET from the environment wins. The upstream listens where
# the gateway looks (HUB_UPSTREAM) unless HUB_ADDR says otherwise. The audit
# journal ships to HUB_DB, so it lives in data/ too: a fresh data/ starts a
# fresh chain, and two checkouts on one host don't fight over the flock of
# Caddy's default journal directory (set here only: `make test` gateways
# each get their own). Tokens are issued by the public URL (HUB_JWT_ISSUER =
# HUB_PUBLIC_URL), which is also the OAuth2 metadata's issuer (RFC 9068 §4).
run: build
	@mkdir -p $(DATA)
	@if [ -z "$$HUB_GATEWAY_SECRET" ] && [ ! -s $(DATA)/gateway.secret ]; then \
		umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > $(DATA)/gateway.secret; fi
	@set -e; \
	export HUB_GATEWAY_SECRET="$${HUB_GATEWAY_SECRET:-$$(cat $(DATA)/gateway.secret)}"; \
	export HUB_ADDR="$${HUB_ADDR:-$${HUB_UPSTREAM:-127.0.0.1:9000}}"; \
	export HUB_AUDIT_DIR="$${HUB_AUDIT_DIR:-$(DATA)/audit}"; \
	LISTEN="$${HUB_LISTEN:-:8080}"; HOST="$${LISTEN%:*}"; \
	export HUB_PUBLIC_URL="$${HUB_PUBLIC_URL:-http://$${HOST:-localhost}:$${LISTEN##*:}}"; \
	export HUB_JWT_ISSUER="$${HUB_JWT_ISSUER:-$$HUB_PUBLIC_URL}"; \
	$(BIN)/hubchantier migrate; \
	$(BIN)/hubchantier seed; \
	KEY=$$($(BIN)/hubchantier apikey demo --user admin@hubchantier.local); \
	$(BIN)/hubchantier serve & UP=$$!; \
	$(BIN)/hubgate run --config Caddyfile --adapter caddyfile & GW=$$!; \
	trap 'kill $$UP $$GW 2>/dev/null; wait $$UP $$GW 2>/dev/null; exit 0' INT TERM; \
	trap 'kill $$UP $$GW 2>/dev/null' EXIT; \
	sleep 1; \
	echo; \
	echo "hubgate on $${HUB_LISTEN:-:8080} -> Hub Chantier on $${HUB_UPSTREAM:-127.0.0.1:9000}"; \
	echo "demo API key (shown once): $$KEY"; \
	echo "try:  curl -s -H 'Authorization: Bearer $$KEY' 'http://$${HOST:-localhost}:$${LISTEN##*:}/api/v1/chantiers?limit=2'"; \
	echo "Ctrl-C stops both."; \
	wait $$UP $$GW

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
