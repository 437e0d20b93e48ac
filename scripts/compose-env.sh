#!/usr/bin/env bash
# scripts/compose-env.sh: print the path of the env file docker-compose.yml
# reads (.data/compose.env, or $AUTHGATE_DATA_DIR/compose.env), writing it
# first if it does not exist: a JWT key and an action secret that Hasura and
# authgate share, authgate's refresh-token key and Hasura's admin secret,
# each 32 random bytes in hex.
# The file is kept so that the stack keeps its secrets across `make up`s;
# `make reset` removes it with the rest of .data/.
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
data=${AUTHGATE_DATA_DIR:-$root/.data}
file=$data/compose.env

secret() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# ensure NAME LINE: append LINE unless the file already sets NAME (a file
# written by an older authgate gains the secrets it lacks, keeping the rest).
ensure() {
    grep -q "^$1=" -- "$file" 2>/dev/null && return
    printf '%s\n' "$2" >>"$file"
    printf 'compose-env: added %s to %s\n' "$1" "$file" >&2
}

mkdir -p -- "$data"
umask 077
if [[ ! -f $file ]]; then
    printf '# Written by scripts/compose-env.sh for docker-compose.yml: development secrets only.\n' >"$file"
fi
ensure HASURA_GRAPHQL_JWT_SECRET "HASURA_GRAPHQL_JWT_SECRET='{\"type\":\"HS256\",\"key\":\"$(secret)\"}'"
ensure AUTHGATE_ACTION_SECRET "AUTHGATE_ACTION_SECRET=$(secret)"
ensure AUTHGATE_REFRESH_TOKEN_SECRET "AUTHGATE_REFRESH_TOKEN_SECRET=$(secret)"
ensure HASURA_GRAPHQL_ADMIN_SECRET "HASURA_GRAPHQL_ADMIN_SECRET=$(secret)"
printf '%s\n' "$file"
