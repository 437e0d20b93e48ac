# authgate: `make run` starts the service, `make test` runs every test.
GO ?= go

.PHONY: run reset up test test-interop check generate build

## run: start authgate in development mode on :8090 against its own database `authgate` (DATABASE_URL, else on 127.0.0.1:5432, else in a local cluster under .data/), created if missing
run:
	@url="$$(scripts/dev-db.sh run-url)" && DATABASE_URL="$$url" $(GO) run . serve --dev

## reset: drop make run's database `authgate` and remove .data/ (the local cluster, the development secrets)
reset:
	@scripts/dev-db.sh reset

## up: the whole stack in containers (PostgreSQL, Hasura with the metadata applied, authgate), with secrets generated once in .data/compose.env
up:
	@envfile="$$(scripts/compose-env.sh)" && \
		if docker compose version >/dev/null 2>&1; then docker compose --env-file "$$envfile" up --build; \
		elif command -v docker-compose >/dev/null 2>&1; then docker-compose --env-file "$$envfile" up --build; \
		else echo "make up: needs Docker with Compose (docker compose, or docker-compose)" >&2; exit 1; fi

## test: every test, with the race detector, against a real PostgreSQL; then the JavaScript client's (test-client)
test:
	@url="$${AUTHGATE_TEST_DATABASE_URL:-$$(DATABASE_URL= scripts/dev-db.sh)}" && \
		AUTHGATE_TEST_DATABASE_URL="$$url" $(GO) test -race -count=1 -timeout 30m ./...
	@$(MAKE) --no-print-directory test-client

## test-client: @authgate/client's unit tests (node --test, clients/js) against the real server on a fresh database
.PHONY: test-client
test-client:
	@url="$${AUTHGATE_TEST_DATABASE_URL:-$$(DATABASE_URL= scripts/dev-db.sh)}" && cd clients/js && \
		{ [ -d node_modules/typescript ] || npm ci --no-audit --no-fund >/dev/null; } && \
		AUTHGATE_TEST_DATABASE_URL="$$url" npm test --silent

## test-interop: tokens of every JWT type verified by npm's jose through /.well-known/jwks.json; the playground run in headless Chromium; provider sign-in (OpenID provider → callback → exchangeAuthCode) in headless Chromium; @authgate/client in headless Chromium (tabs refreshing at once, a sleeping tab, cookie mode, cross-tab sign-out)
test-interop:
	@url="$${AUTHGATE_TEST_DATABASE_URL:-$$(DATABASE_URL= scripts/dev-db.sh)}" && \
		AUTHGATE_TEST_DATABASE_URL="$$url" interop/run.sh && \
		$(GO) build -o clients/js/.test-bin/authgate . && cd clients/js && \
		{ [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund >/dev/null; } && \
		AUTHGATE_TEST_DATABASE_URL="$$url" AUTHGATE_BIN="$$PWD/.test-bin/authgate" npm run --silent test:browser

## fuzz: run each fuzz target for a short, bounded time (FUZZTIME each, default 15s); seeds and found corpus live in testdata/fuzz
FUZZTIME ?= 15s
FUZZ_TARGETS = internal/token:FuzzVerify internal/token:FuzzJSONPath internal/httpapi:FuzzActionRequest internal/config:FuzzLoad internal/auth:FuzzNormalizeEmail
.PHONY: fuzz
fuzz:
	@url="$${AUTHGATE_TEST_DATABASE_URL:-$$(DATABASE_URL= scripts/dev-db.sh)}" && \
		for target in $(FUZZ_TARGETS); do \
			pkg="$${target%%:*}" name="$${target##*:}"; \
			echo "fuzz: $$name in ./$$pkg for $(FUZZTIME)"; \
			AUTHGATE_TEST_DATABASE_URL="$$url" $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) "./$$pkg" || exit 1; \
		done

## check: formatting, vet, and generated code up to date
check:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || { echo "gofmt would change the files above"; exit 1; }
	$(GO) vet ./...
	$(GO) generate ./...
	@git diff --exit-code -- graph/ hasura/ internal/admin/ go.mod go.sum || { echo "generated code is stale: run go generate ./... and commit"; exit 1; }

## generate: regenerate the gqlgen code from schema.graphql (graph/) and admin.graphql (internal/admin/)
generate:
	$(GO) generate ./...

## check-compose: validate docker-compose.yml with docker-compose config (needs no Docker daemon), with throw-away secrets
.PHONY: check-compose
check-compose:
	@dir="$$(mktemp -d)" && envfile="$$(AUTHGATE_DATA_DIR="$$dir/.data" scripts/compose-env.sh 2>/dev/null)" && \
		docker-compose --env-file "$$envfile" config -q; rc=$$?; rm -rf "$$dir"; \
		if [ $$rc -eq 0 ]; then echo "docker-compose.yml is valid"; fi; exit $$rc

## build: the authgate binary
build:
	$(GO) build -o authgate .

## bench: load-test the real server on a fresh database, beside pgbench ceilings (BENCH_FLAGS="--duration 5s …" to change it)
.PHONY: bench
bench:
	@url="$${AUTHGATE_BENCH_ADMIN_URL:-$$(DATABASE_URL= scripts/dev-db.sh)}" && \
		$(GO) run ./cmd/authgate-bench --admin-url "$$url" $(BENCH_FLAGS)
