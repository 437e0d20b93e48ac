#!/usr/bin/env bash
# scripts/compose-env.sh: print the path of the env file docker-compose.yml
# reads (.data/compose.env, or $AUTHGATE_DATA_DIR/compose.env), writing it
# first if it does not exist: a JWT key and an action secret that Hasura and
# authgate share, and Hasura's admin secret, each 32 random bytes in hex.
# The file is kept so that the stack keeps its secrets across `make up`s;
# `make reset` removes it with the rest of .data/.
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
data=${AUTHGATE_DATA_DIR:-$root/.data}
file=$data/compose.env

secret() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

if [[ ! -f $file ]]; then
    mkdir -p -- "$data"
    umask 077
    {
        printf '# Written by scripts/compose-env.sh for docker-compose.yml: development secrets only.\n'
        printf "HASURA_GRAPHQL_JWT_SECRET='{\"type\":\"HS256\",\"key\":\"%s\"}'\n" "$(secret)"
        printf 'AUTHGATE_ACTION_SECRET=%s\n' "$(secret)"
        printf 'HASURA_GRAPHQL_ADMIN_SECRET=%s\n' "$(secret)"
    } >"$file.tmp"
    mv -- "$file.tmp" "$file"
    printf 'compose-env: wrote %s\n' "$file" >&2
fi
printf '%s\n' "$file"
