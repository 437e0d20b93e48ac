#!/usr/bin/env bash
# make test-interop: for every JWT type authgate signs, start the real server
# with such a key, sign in, and verify the token with npm's jose (verify.mjs),
# through /.well-known/jwks.json for asymmetric keys, with issuer and audience
# checks. Then open the playground in headless Chromium and run a query
# through it (playground.mjs), drive the admin console (admin.mjs), and register and sign in with a passkey in
# Chromium's virtual authenticator (passkeys.mjs), and walk the forgotten-password path: the reset
# link from development mode's /dev/mail, opened on an app page that POSTs resetPassword
# (email.mjs), and sign in with an OpenID provider (cmd/testop) from an app page that calls
# exchangeAuthCode (providers.mjs). Needs node/npm, Chromium ($CHROMIUM, default
# /usr/bin/chromium) and the PostgreSQL that `make test` uses.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd .. && pwd)
admin_url=${AUTHGATE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}

chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "interop: no Chromium at $chromium: apt-get install chromium (or set CHROMIUM)" >&2
  exit 1
fi
[ -d node_modules/jose ] && [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund >/dev/null

work=$(mktemp -d)
db="authgate_interop_$$"
server_pid=""
op_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  [ -n "$op_pid" ] && kill "$op_pid" 2>/dev/null && wait "$op_pid" 2>/dev/null || true
  psql "$admin_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

(cd "$root" && go build -o "$work/authgate" .)
psql "$admin_url" -qc "CREATE DATABASE $db" >/dev/null
db_url=$(printf '%s' "$admin_url" | sed -E "s#/[^/?]+(\?|$)#/$db\1#")
port=$((20000 + RANDOM % 20000))
base="http://127.0.0.1:$port"
issuer="https://auth.example.test"
audience="interop-app"
hs_key=$(head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n')   # 96 hex characters: enough for HS512

# start_server JWT_SECRET [KEYS_FILE [NAME=VALUE…]]: the built server on
# $port, with the extra settings given, its log in server.log, once it
# answers /healthz.
start_server() {
  env DATABASE_URL="$db_url" HASURA_GRAPHQL_JWT_SECRET="$1" AUTHGATE_JWT_PRIVATE_KEYS="${2:-}" \
      AUTHGATE_REFRESH_TOKEN_SECRET="interop-refresh-secret-0123456789abcdef" AUTHGATE_ADDR="127.0.0.1:$port" \
      AUTHGATE_ARGON2_MEMORY_KIB=1024 AUTHGATE_ARGON2_ITERATIONS=1 AUTHGATE_LOG_LEVEL=warn AUTHGATE_SIGNUP_IP_LIMIT=0 \
      "${@:3}" "$work/authgate" serve 2>"$work/server.log" &
  server_pid=$!
  for _ in $(seq 1 300); do curl -sf "$base/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
}

failures=0
for type in HS256 HS384 HS512 RS256 RS384 RS512 ES256 ES384 ES512 Ed25519; do
  keys=""
  case $type in
    HS*) secret="{\"type\":\"$type\",\"key\":\"$hs_key\",\"issuer\":\"$issuer\",\"audience\":\"$audience\"}" ;;
    *)
      "$work/authgate" keys generate --type "$type" > "$work/key.pem"
      keys="$work/key.pem"
      secret="{\"type\":\"$type\",\"jwk_url\":\"$base/.well-known/jwks.json\",\"issuer\":\"$issuer\",\"audience\":[\"$audience\",\"other\"]}"
      [ "$type" = Ed25519 ] && secret="{\"jwk_url\":\"$base/.well-known/jwks.json\",\"issuer\":\"$issuer\",\"audience\":\"$audience\"}"
      ;;
  esac
  start_server "$secret" "$keys"
  email="interop-$(echo "$type" | tr 'A-Z' 'a-z')@example.com"
  body="{\"query\":\"mutation { signup(email: \\\"$email\\\", password: \\\"interop password\\\") { accessToken } }\"}"
  token=$(curl -s "$base/graphql" -H 'Content-Type: application/json' -d "$body" | sed -nE 's/.*"accessToken":"([^"]+)".*/\1/p' || true)
  if [ -z "$token" ]; then
    echo "FAIL $type: no token (server log follows)"; cat "$work/server.log"; failures=$((failures + 1))
  elif ! node verify.mjs "$base" "$token" "$issuer" "$audience" "$hs_key"; then
    echo "FAIL $type"; failures=$((failures + 1))
  fi
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
done
echo "interop: $((10 - failures)) passed, $failures failed"

start_server "{\"type\":\"HS256\",\"key\":\"$hs_key\"}"
if ! CHROMIUM="$chromium" node playground.mjs "$base" introspection-off; then
  echo "server log:"; cat "$work/server.log"; failures=$((failures + 1))
fi

# The admin console (admin.mjs): an administrator made with the CLI, a user
# with one session (its refresh token); the screenshots of the user list and
# the user's page stay in interop/screenshots/.
echo 'interop admin password' | env DATABASE_URL="$db_url" AUTHGATE_ARGON2_MEMORY_KIB=1024 AUTHGATE_ARGON2_ITERATIONS=1 \
  "$work/authgate" user add --email interop-admin@example.com --password-stdin --default-role admin >/dev/null
body='{"query":"mutation { signup(email: \"interop-user@example.com\", password: \"interop password\") { refreshToken } }"}'
user_refresh=$(curl -s "$base/graphql" -H 'Content-Type: application/json' -d "$body" | sed -nE 's/.*"refreshToken":"([^"]+)".*/\1/p' || true)
if ! CHROMIUM="$chromium" node admin.mjs "$base" interop-admin@example.com 'interop admin password' \
    interop-user@example.com "$user_refresh" "$root/interop/screenshots"; then
  echo "server log:"; cat "$work/server.log"; failures=$((failures + 1))
fi
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""

# Passkeys in the browser (passkeys.mjs): the relying party is localhost,
# which browsers treat as a secure context over plain http; the test page
# is served on authgate's own origin. The screenshot stays in
# interop/screenshots/.
mkdir -p screenshots
start_server "{\"type\":\"HS256\",\"key\":\"$hs_key\"}" "" \
  AUTHGATE_WEBAUTHN_RP_ID=localhost AUTHGATE_WEBAUTHN_ORIGINS="http://localhost:$port"
if ! CHROMIUM="$chromium" node passkeys.mjs "http://localhost:$port" screenshots/passkeys.png; then
  echo "server log:"; cat "$work/server.log"; failures=$((failures + 1))
fi
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""

# The forgotten-password path (email.mjs): development mode keeps mails in
# memory and lists them at /dev/mail; the app page is served by email.mjs
# on a port of its own (another origin, admitted by AUTHGATE_CORS_ORIGINS
# and by the redirect allow-list; passkeys, which would otherwise take the
# app's plain-http origin and refuse it, are set to localhost). The screenshot stays in
# interop/screenshots/.
app_port=$((40000 + RANDOM % 20000))
app="http://127.0.0.1:$app_port"
env DATABASE_URL="$db_url" AUTHGATE_ADDR="127.0.0.1:$port" AUTHGATE_ARGON2_MEMORY_KIB=1024 AUTHGATE_ARGON2_ITERATIONS=1 \
    AUTHGATE_LOG_LEVEL=warn AUTHGATE_SIGNUP_IP_LIMIT=0 AUTHGATE_APP_URL="$app/reset" AUTHGATE_REDIRECT_URLS="$app/reset" \
    AUTHGATE_CORS_ORIGINS="$app" AUTHGATE_WEBAUTHN_RP_ID=localhost AUTHGATE_WEBAUTHN_ORIGINS="http://localhost:$port" \
    "$work/authgate" serve --dev --data-dir "$work/dev" >/dev/null 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 300); do curl -sf "$base/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
if ! CHROMIUM="$chromium" node email.mjs "$base" "$app_port" screenshots/email.png; then
  echo "server log:"; cat "$work/server.log"; failures=$((failures + 1))
fi
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""

# Provider sign-in (providers.mjs): the OpenID provider is cmd/testop
# (zitadel/oidc's provider and login form, built here: Ory Hydra does not
# build in CI's time); the app page is served by providers.mjs on its own
# origin. The screenshot stays in interop/screenshots/.
(cd "$root" && go build -o "$work/testop" ./internal/oidc/oidctest/cmd/testop)
op_port=$((20000 + RANDOM % 20000))
op="http://127.0.0.1:$op_port"
"$work/testop" -addr "127.0.0.1:$op_port" -redirect "$base/auth/corp/callback" >/dev/null 2>"$work/testop.log" &
op_pid=$!
for _ in $(seq 1 300); do curl -sf "$op/.well-known/openid-configuration" >/dev/null 2>&1 && break; sleep 0.1; done
start_server "{\"type\":\"HS256\",\"key\":\"$hs_key\"}" "" \
  AUTHGATE_PUBLIC_URL="$base" AUTHGATE_APP_URL="$app/signed-in" AUTHGATE_REDIRECT_URLS="$app/signed-in" AUTHGATE_CORS_ORIGINS="$app" \
  AUTHGATE_PROVIDERS="[{\"id\":\"corp\",\"type\":\"oidc\",\"issuer\":\"$op\",\"client_id\":\"authgate\",\"client_secret\":\"authgate-test-secret\"}]"
if ! CHROMIUM="$chromium" node providers.mjs "$base" "$op" "$app_port" screenshots/providers.png; then
  echo "server log:"; cat "$work/server.log"; failures=$((failures + 1))
fi
kill "$op_pid" 2>/dev/null; wait "$op_pid" 2>/dev/null || true; op_pid=""
[ "$failures" -eq 0 ]
