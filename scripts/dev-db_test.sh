#!/usr/bin/env bash
# scripts/dev-db_test.sh: self-contained test of scripts/dev-db.sh.
#
# Never touches the server on 127.0.0.1:5432: every run probes a free port.
# Local clusters are created in a temporary directory (and, when run as root
# with an unreachable data directory, in dev-db.sh's /tmp fallback), stopped
# and removed on exit. Every dev-db.sh call is bounded by `timeout`.

set -euo pipefail

HERE=$(cd -- "${BASH_SOURCE[0]%/*}" && pwd -P)
DEVDB=$HERE/dev-db.sh
LIMIT=90   # seconds per dev-db.sh call

TMP=$(mktemp -d)
chmod 0755 "$TMP"   # the cluster user (postgres/nobody when root) must reach it
DATA_DIRS=()
FAILS=0

log() { printf '%s\n' "$*" >&2; }
pass() { log "ok   - $*"; }
fail() { log "FAIL - $*"; FAILS=$((FAILS + 1)); }

# stop_cluster PGDATA: last-resort stop of a postmaster we started.
stop_cluster() {
    local pid
    [[ -f $1/postmaster.pid ]] || return 0
    read -r pid <"$1/postmaster.pid" || return 0
    [[ $pid =~ ^[0-9]+$ ]] || return 0
    if [[ -r /proc/$pid/cmdline ]] && grep -qF -- "$1" "/proc/$pid/cmdline"; then
        kill -INT "$pid" 2>/dev/null || true
        for _ in {1..50}; do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    fi
}

cleanup() {
    local d loc
    set +e
    for d in "${DATA_DIRS[@]}"; do
        AUTHGATE_DATA_DIR=$d timeout "$LIMIT" "$DEVDB" stop >/dev/null 2>&1
        stop_cluster "$d/pg"
        if [[ -f $d/pg.location ]]; then
            loc=$(<"$d/pg.location")
            stop_cluster "$loc"
            case $loc in
            /tmp/authgate-dev-*/*/pg)
                rm -rf -- "${loc%/pg}"
                rmdir -- "${loc%/*/pg}" 2>/dev/null
                ;;
            esac
        fi
    done
    rm -rf -- "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port: a port nothing listens on.
free_port() {
    local p
    for _ in {1..50}; do
        p=$((55000 + RANDOM % 5000))
        if ! port_open "$p"; then printf '%s\n' "$p"; return 0; fi
    done
    log "no free port found"
    exit 1
}

# run OUT ERR ENV...: run dev-db.sh with the given environment assignments
# (and extra args after --), stdout to OUT, stderr to ERR; prints the status.
run() {
    local out=$1 err=$2 rc=0
    shift 2
    local envs=() args=()
    while (($#)); do
        if [[ $1 == -- ]]; then shift; args=("$@"); break; fi
        envs+=("$1")
        shift
    done
    env -u DATABASE_URL "${envs[@]}" timeout "$LIMIT" "$DEVDB" "${args[@]}" >"$out" 2>"$err" || rc=$?
    printf '%s\n' "$rc"
}

lines() { local n=0; while IFS= read -r _; do n=$((n + 1)); done <"$1"; printf '%s\n' "$n"; }

PROBE_PORT=$(free_port)
OUT=$TMP/out ERR=$TMP/err

# A PATH without any PostgreSQL program (so also without pg_isready).
NOPG=$TMP/nopg-bin
mkdir "$NOPG"
declare -A seen=()
links=()
IFS=: read -r -a path_dirs <<<"$PATH"
for dir in "${path_dirs[@]}"; do
    for f in "$dir"/*; do
        n=${f##*/}
        case $n in
        initdb | pg_ctl | postgres | postmaster | pg_isready | psql | createdb) continue ;;
        esac
        if [[ -z ${seen[$n]:-} && -f $f && -x $f ]]; then
            seen[$n]=1
            links+=("$f")
        fi
    done
done
ln -s -t "$NOPG" -- "${links[@]}"
unset seen links

# --- 1. DATABASE_URL wins.
want='postgres://u:p@db.example:6543/x?sslmode=require'
rc=0
got=$(DATABASE_URL=$want timeout "$LIMIT" "$DEVDB" 2>"$ERR") || rc=$?
if [[ $rc == 0 && $got == "$want" ]]; then pass "DATABASE_URL is printed unchanged"; else fail "DATABASE_URL: rc=$rc out=$got"; fi

# --- 4. Nothing answers, no server programs: one clear error line, exit 1.
rc=$(run "$OUT" "$ERR" PATH="$NOPG" AUTHGATE_DEV_PG_PORT="$PROBE_PORT" \
    AUTHGATE_DEV_PG_LIBDIR="$TMP/none" AUTHGATE_DATA_DIR="$TMP/unused/.data")
if [[ $rc == 1 && ! -s $OUT && -e $TMP/unused ]]; then
    fail "no-postgres case created $TMP/unused"
elif [[ $rc == 1 && ! -s $OUT ]] && grep -q 'no PostgreSQL server programs are installed; set DATABASE_URL or install postgresql' "$ERR"; then
    pass "no server and no programs: exit 1 with: $(<"$ERR")"
else
    fail "no-postgres case: rc=$rc stdout=$(<"$OUT") stderr=$(<"$ERR")"
fi

# --- 3. Project-local cluster.
HAVE_SERVER=0
for d in "$(dirname -- "$(readlink -f -- "$(command -v initdb || echo /nonexistent)")")" /usr/lib/postgresql/*/bin; do
    if [[ -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]]; then HAVE_SERVER=1; PGBIN=$d; break; fi
done
if ((HAVE_SERVER == 0)); then
    log "skip - no PostgreSQL server programs installed: local-cluster tests not run"
    ((FAILS == 0)) && log "PASS" && exit 0
    exit 1
fi
PSQL=$(command -v psql || echo "$PGBIN/psql")

# check_cluster NAME DATA_DIR: first run, second run, probe, stop.
check_cluster() {
    local name=$1 data=$2 port url url2 rc start elapsed
    port=$(free_port)
    DATA_DIRS+=("$data")
    local envs=(AUTHGATE_DEV_PG_PORT="$PROBE_PORT" AUTHGATE_DEV_LOCAL_PORT="$port" AUTHGATE_DATA_DIR="$data")

    rc=$(run "$OUT" "$ERR" "${envs[@]}")
    url=$(<"$OUT")
    if [[ $rc == 0 && $(lines "$OUT") == 1 && $url == "postgres://postgres@127.0.0.1:$port/authgate?sslmode=disable" ]]; then
        pass "$name: first run prints $url"
    else
        fail "$name: first run rc=$rc stdout=$url"
        sed 's/^/    /' "$ERR" >&2
        return 0
    fi
    if [[ $(timeout 10 "$PSQL" -X -A -t -d "$url" -c 'select 1' 2>&1) == 1 ]]; then
        pass "$name: psql accepts the URL"
    else
        fail "$name: psql \"$url\" -c 'select 1' failed"
    fi

    start=$SECONDS
    rc=$(run "$OUT" "$ERR" "${envs[@]}")
    url2=$(<"$OUT")
    elapsed=$((SECONDS - start))
    if [[ $rc == 0 && $url2 == "$url" && $elapsed -le 5 ]] && ! grep -q initializing "$ERR"; then
        pass "$name: second run reuses the running cluster (${elapsed}s)"
    else
        fail "$name: second run rc=$rc url=$url2 elapsed=${elapsed}s"
    fi

    # --- 2. Something answers on the probed port (our cluster stands in).
    rc=$(run "$OUT" "$ERR" AUTHGATE_DEV_PG_PORT="$port" AUTHGATE_DATA_DIR="$TMP/unused/.data")
    if [[ $rc == 0 && $(<"$OUT") == "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable" ]]; then
        pass "$name: a server answering on the probed port is used (pg_isready)"
    else
        fail "$name: probe with pg_isready: rc=$rc out=$(<"$OUT")"
    fi
    rc=$(run "$OUT" "$ERR" PATH="$NOPG" AUTHGATE_DEV_PG_PORT="$port" AUTHGATE_DATA_DIR="$TMP/unused/.data")
    if [[ $rc == 0 && $(<"$OUT") == "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable" ]]; then
        pass "$name: a server answering on the probed port is used (/dev/tcp)"
    else
        fail "$name: probe with /dev/tcp: rc=$rc out=$(<"$OUT")"
    fi

    # make run's URL: database authgate, never postgres.
    rc=$(run "$OUT" "$ERR" AUTHGATE_DEV_PG_PORT="$port" AUTHGATE_DATA_DIR="$TMP/unused/.data" -- run-url)
    if [[ $rc == 0 && $(<"$OUT") == "postgres://postgres@127.0.0.1:$port/authgate?sslmode=disable" ]]; then
        pass "$name: run-url names database authgate on the probed server"
    else
        fail "$name: run-url: rc=$rc out=$(<"$OUT")"
    fi

    # make reset drops database authgate on the probed server, and removes
    # only a data directory named .data.
    mkdir -p "$TMP/other/.data" && : >"$TMP/other/.data/dev-action-secret"
    rc=$(run "$OUT" "$ERR" AUTHGATE_DEV_PG_PORT="$port" AUTHGATE_DATA_DIR="$TMP/other/.data" -- reset)
    local left
    left=$(timeout 10 "$PSQL" -X -A -t -d "${url%/authgate*}/postgres?sslmode=disable" -c "select count(*) from pg_database where datname = 'authgate'" 2>&1)
    if [[ $rc == 0 && $left == 0 && ! -e $TMP/other/.data ]]; then
        pass "$name: reset drops database authgate and removes the data directory"
    else
        fail "$name: reset: rc=$rc, authgate databases left: $left, $(ls -d "$TMP/other/.data" 2>&1); $(<"$ERR")"
    fi
    mkdir -p "$TMP/notdata"
    rc=$(run "$OUT" "$ERR" AUTHGATE_DEV_PG_PORT="$PROBE_PORT" AUTHGATE_DATA_DIR="$TMP/notdata" -- reset)
    if [[ $rc == 1 && -d $TMP/notdata ]] && grep -q 'only removes a directory named .data' "$ERR"; then
        pass "$name: reset refuses a data directory not named .data"
    else
        fail "$name: reset of $TMP/notdata: rc=$rc $(<"$ERR")"
    fi
    rc=$(run "$OUT" "$ERR" "${envs[@]}")
    if [[ $rc == 0 && $(<"$OUT") == "$url" ]] && grep -q "creating database authgate" "$ERR"; then
        pass "$name: the next run creates database authgate again"
    else
        fail "$name: run after reset: rc=$rc out=$(<"$OUT") $(<"$ERR")"
    fi

    rc=$(run "$OUT" "$ERR" AUTHGATE_DATA_DIR="$data" -- stop)
    if [[ $rc == 0 && ! -s $OUT ]] && ! port_open "$port"; then
        pass "$name: stop stops it"
    else
        fail "$name: stop rc=$rc, port $port open: $(port_open "$port" && echo yes || echo no)"
    fi
    rc=$(run "$OUT" "$ERR" AUTHGATE_DATA_DIR="$data" -- stop)
    if [[ $rc == 0 ]]; then pass "$name: stop when stopped exits 0"; else fail "$name: second stop rc=$rc"; fi

    rc=$(run "$OUT" "$ERR" "${envs[@]}")
    if [[ $rc == 0 && $(<"$OUT") == "$url" ]] && ! grep -q initializing "$ERR"; then
        pass "$name: restart after stop reuses the cluster"
    else
        fail "$name: restart rc=$rc out=$(<"$OUT")"
    fi
    run "$OUT" "$ERR" AUTHGATE_DATA_DIR="$data" -- stop >/dev/null
}

check_cluster "local cluster" "$TMP/repo/.data"
if [[ -d $TMP/repo/.data/pg && ! -e $TMP/repo/.data/pg.location ]]; then
    pass "local cluster: lives in <data dir>/pg"
else
    fail "local cluster: not in $TMP/repo/.data/pg"
fi

if ((EUID == 0)); then
    # The cluster user cannot search a root-only 0700 directory: dev-db.sh
    # must fall back to /tmp/authgate-dev-0/<key>/pg and say so.
    mkdir -m 0700 "$TMP/private"
    check_cluster "root, unreachable data dir" "$TMP/private/.data"
    if [[ -f $TMP/private/.data/pg.location ]] && [[ $(<"$TMP/private/.data/pg.location") == /tmp/authgate-dev-0/*/pg ]]; then
        pass "root, unreachable data dir: fell back to $(<"$TMP/private/.data/pg.location")"
    else
        fail "root, unreachable data dir: no /tmp fallback recorded"
    fi
fi

if ((FAILS)); then
    log "FAILED: $FAILS check(s)"
    exit 1
fi
log "PASS"
