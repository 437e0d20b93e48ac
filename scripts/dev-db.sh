#!/usr/bin/env bash
# scripts/dev-db.sh: print a PostgreSQL URL for local development.
#
# Usage:
#   scripts/dev-db.sh         print exactly one line on stdout: a URL for a
#                             database that answers (progress goes to stderr)
#   scripts/dev-db.sh run-url print the URL `make run` uses: as above, but on
#                             the server answering on the probed port the
#                             database is "authgate" (serve --dev creates it),
#                             never the "postgres" maintenance database
#   scripts/dev-db.sh stop    stop the project-local cluster if it is running
#   scripts/dev-db.sh reset   what `make reset` does: drop the "authgate"
#                             database on the server answering on the probed
#                             port, stop the project-local cluster and remove
#                             the data directory (the cluster, the generated
#                             development secrets)
#
# Where the URL comes from, first match wins:
#   1. $DATABASE_URL, if set and non-empty, printed unchanged.
#   2. A server answering on 127.0.0.1:$AUTHGATE_DEV_PG_PORT (default 5432):
#      postgres://postgres@127.0.0.1:<port>/postgres?sslmode=disable
#   3. A project-local cluster, created and started on demand, in
#      $AUTHGATE_DATA_DIR/pg (default <repo>/.data/pg), log in
#      $AUTHGATE_DATA_DIR/pg.log, listening only on 127.0.0.1 port
#      $AUTHGATE_DEV_LOCAL_PORT (default 54329), trust auth, database "authgate":
#      postgres://postgres@127.0.0.1:<port>/authgate?sslmode=disable
#      As root the cluster runs as the "postgres" user (or "nobody"). If that
#      user cannot reach the data directory (e.g. the repo is under /root), the
#      cluster lives in /tmp/authgate-dev-<uid>/<key>/ instead; the chosen
#      path is written to $AUTHGATE_DATA_DIR/pg.location.
#   4. Otherwise: one error line on stderr, exit 1.
#
# AUTHGATE_DEV_PG_LIBDIR (default /usr/lib/postgresql) is where versioned
# server installs (<dir>/<version>/bin) are looked for, after $PATH.

set -euo pipefail

readonly DB_NAME=authgate
PROG=${0##*/}

note() { printf 'dev-db: %s\n' "$*" >&2; }
die() { printf '%s\n' "$*" >&2; exit 1; }

usage() {
    cat <<EOF
usage: $PROG          print a PostgreSQL URL for development on stdout
       $PROG run-url  print the URL make run uses (database $DB_NAME)
       $PROG stop     stop the project-local cluster, if it is running
       $PROG reset    drop database $DB_NAME and remove the data directory
EOF
}

valid_port() { [[ $1 =~ ^[0-9]{1,5}$ ]] && (( 10#$1 >= 1 && 10#$1 <= 65535 )); }

# sq VALUE: VALUE as a single-quoted postgresql.conf string.
sq() { printf "'%s'" "${1//\'/\'\'}"; }

# probe PORT: succeeds if a server answers on 127.0.0.1:PORT.
probe() {
    local port=$1
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h 127.0.0.1 -p "$port" -t 2 >/dev/null 2>&1
    elif command -v timeout >/dev/null 2>&1; then
        # shellcheck disable=SC2016 # $1 is expanded by the inner bash
        timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$port" 2>/dev/null
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
    fi
}

# ---------------------------------------------------------------------------
# Locating PostgreSQL server programs.

# pg_major BINDIR: major version of BINDIR/postgres ("15", "9.6").
pg_major() {
    local out
    out=$("$1/postgres" --version 2>/dev/null) || return 1
    [[ $out =~ \(PostgreSQL\)\ ([0-9]+)(\.([0-9]+))? ]] || return 1
    if (( BASH_REMATCH[1] >= 10 )) || [[ -z ${BASH_REMATCH[3]} ]]; then
        printf '%s\n' "${BASH_REMATCH[1]}"
    else
        printf '%s.%s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[3]}"
    fi
}

# server_bindirs: candidate directories, in order of preference: the one
# holding initdb on $PATH (symlinks resolved), then $PG_LIBDIR/*/bin, newest
# version first.
server_bindirs() {
    local p d
    if p=$(command -v initdb 2>/dev/null) && p=$(readlink -f -- "$p"); then
        printf '%s\n' "${p%/*}"
    fi
    for d in "$PG_LIBDIR"/*/bin; do
        if [[ -d $d ]]; then printf '%s\n' "$d"; fi
    done | sort -r -V
}

# pick_bindir [MAJOR]: print the first directory holding initdb, pg_ctl and
# postgres (of major version MAJOR, if given).
pick_bindir() {
    local want=${1:-} d
    while IFS= read -r d; do
        [[ -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]] || continue
        if [[ -n $want && $(pg_major "$d" || true) != "$want" ]]; then
            continue
        fi
        printf '%s\n' "$d"
        return 0
    done < <(server_bindirs)
    return 1
}

# client BINDIR NAME: path of a client program, preferring BINDIR.
client() {
    if [[ -x $1/$2 ]]; then
        printf '%s\n' "$1/$2"
    else
        command -v "$2" 2>/dev/null
    fi
}

# ---------------------------------------------------------------------------
# Running as the cluster owner (PostgreSQL refuses to run as root).

RUN_AS=""     # empty: run as ourselves
RUN_AS_GID=""

set_run_as() {
    RUN_AS=$1
    RUN_AS_GID=$(id -g "$1")
}

default_run_as() {
    if (( EUID != 0 )); then
        RUN_AS="" RUN_AS_GID=""
    elif id -u postgres >/dev/null 2>&1; then
        set_run_as postgres
    else
        set_run_as nobody
    fi
}

# as_pg CMD...: run CMD as $RUN_AS (or as ourselves when not root).
as_pg() {
    if [[ -z $RUN_AS ]]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        runuser -u "$RUN_AS" -- "$@"
    elif command -v setpriv >/dev/null 2>&1; then
        setpriv --reuid="$RUN_AS" --regid="$RUN_AS_GID" --init-groups -- "$@"
    else
        # shellcheck disable=SC2016 # expanded by the inner sh
        su -s /bin/sh -c 'exec "$0" "$@"' "$RUN_AS" -- "$@"
    fi
}

# can_reach DIR: the cluster user can search DIR and every parent of it.
can_reach() { as_pg test -x "$1" 2>/dev/null; }

# ---------------------------------------------------------------------------
# Paths.

SCRIPT_DIR=${BASH_SOURCE[0]}
if [[ $SCRIPT_DIR == */* ]]; then SCRIPT_DIR=${SCRIPT_DIR%/*}; else SCRIPT_DIR=.; fi
SCRIPT_DIR=$(cd -- "${SCRIPT_DIR:-/}" && pwd -P)
REPO_ROOT=${SCRIPT_DIR%/*}
[[ -n $REPO_ROOT ]] || REPO_ROOT=/
PG_LIBDIR=${AUTHGATE_DEV_PG_LIBDIR:-/usr/lib/postgresql}

DATA_DIR=${AUTHGATE_DATA_DIR:-$REPO_ROOT/.data}
[[ $DATA_DIR == /* ]] || DATA_DIR=$PWD/$DATA_DIR
while [[ $DATA_DIR == */ && $DATA_DIR != / ]]; do DATA_DIR=${DATA_DIR%/}; done

read -r _key _ < <(printf '%s' "$DATA_DIR" | cksum)
FALLBACK_TOP=/tmp/authgate-dev-$EUID
FALLBACK_DIR=$FALLBACK_TOP/$_key
unset _key

# Set by choose_location.
PGDATA="" PGLOG=""

# secure_dir DIR: create DIR (mode 0711) if missing and make sure it is a
# real directory owned by us; used for the world-writable /tmp fallback.
secure_dir() {
    [[ -e $1 || -L $1 ]] || mkdir -m 0711 -- "$1"
    if [[ -L $1 || ! -d $1 || $(stat -c %u -- "$1") != "$EUID" ]]; then
        die "refusing to use $1: not a directory owned by uid $EUID; remove it or set AUTHGATE_DATA_DIR"
    fi
    chmod 0711 -- "$1"
}

# choose_location: create $DATA_DIR if needed and set PGDATA/PGLOG to a place
# the cluster user can use.
choose_location() {
    local created=() d=$DATA_DIR
    while [[ ! -e $d && ! -L $d ]]; do
        created=("$d" "${created[@]}")
        d=${d%/*}
        [[ -n $d ]] || d=/
    done
    mkdir -p -- "$DATA_DIR"
    if (( ${#created[@]} )) && [[ ${created[-1]} == "$DATA_DIR" && ! -e $DATA_DIR/.gitignore ]]; then
        printf '# created by scripts/dev-db.sh: local dev database, never commit\n*\n' \
            >"$DATA_DIR/.gitignore"
    fi

    PGDATA=$DATA_DIR/pg
    PGLOG=$DATA_DIR/pg.log
    (( EUID == 0 )) || return 0

    if ! can_reach "$DATA_DIR" && (( ${#created[@]} )); then
        # Only loosen directories this run created itself.
        chmod o+x -- "${created[@]}"
        can_reach "$DATA_DIR" &&
            note "made the new directories ${created[*]} searchable (o+x) for user $RUN_AS"
    fi
    if can_reach "$DATA_DIR"; then
        rm -f -- "$DATA_DIR/pg.location"
        return 0
    fi

    secure_dir "$FALLBACK_TOP"
    secure_dir "$FALLBACK_DIR"
    PGDATA=$FALLBACK_DIR/pg
    PGLOG=$FALLBACK_DIR/pg.log
    printf '%s\n' "$PGDATA" >"$DATA_DIR/pg.location"
    note "user $RUN_AS cannot reach $DATA_DIR (a parent directory is not searchable by it);" \
        "the cluster lives in $PGDATA instead (log: $PGLOG; /tmp may be wiped on reboot)"
}

# detached CMD...: run CMD with only fds 0-2 open, so that a daemon it leaves
# behind (the postmaster) holds none of our caller's pipes (make's jobserver,
# a $(...) capture) nor our lock.
detached() {
    (
        fddir=/proc/$BASHPID/fd
        [[ -d $fddir ]] || fddir=/dev/fd
        fds=()
        for f in "$fddir"/*; do fds+=("${f##*/}"); done
        for fd in "${fds[@]}"; do
            if [[ $fd =~ ^[0-9]+$ ]] && (( fd > 2 )); then
                { exec {fd}>&-; } 2>/dev/null || true
            fi
        done
        "$@"
    )
}

# take_lock: serialize concurrent runs (optional: only if flock exists).
# Children that outlive us (the postmaster) must not inherit fd 9.
take_lock() {
    command -v flock >/dev/null 2>&1 || return 0
    exec 9>>"$DATA_DIR/.dev-db.lock"
    flock -w 90 9 || die "another scripts/dev-db.sh run holds $DATA_DIR/.dev-db.lock for too long"
}

# cluster_port: the port from postmaster.pid of the running cluster.
cluster_port() {
    local lines=()
    mapfile -t -n 4 lines <"$PGDATA/postmaster.pid" || return 1
    [[ ${#lines[@]} -ge 4 ]] && valid_port "${lines[3]}" || return 1
    printf '%s\n' "${lines[3]}"
}

# write_conf PORT: (re)write the settings this script manages.
write_conf() {
    local port=$1 conf=$PGDATA/authgate-dev.conf sockets=$PGDATA
    # A unix socket path must fit in sun_path (108 bytes including the NUL).
    if (( ${#PGDATA} + ${#port} + 12 > 107 )); then
        note "$PGDATA is too long for a unix socket path; listening on TCP only"
        sockets=""
    fi
    {
        printf '# Managed by scripts/dev-db.sh; rewritten before every start.\n'
        printf 'listen_addresses = %s\n' "'127.0.0.1'"
        printf 'port = %s\n' "$port"
        printf 'unix_socket_directories = %s\n' "$(sq "$sockets")"
    } >"$conf"
    if ! grep -q "^include_if_exists = 'authgate-dev.conf'" "$PGDATA/postgresql.conf"; then
        printf "\ninclude_if_exists = 'authgate-dev.conf'\n" >>"$PGDATA/postgresql.conf"
    fi
    if [[ -n $RUN_AS ]]; then chown "$RUN_AS:$RUN_AS_GID" -- "$conf"; fi
}

init_cluster() {
    local bindir=$1 locale=C
    if command -v locale >/dev/null 2>&1 &&
        locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then
        locale=C.UTF-8
    fi
    note "initializing a PostgreSQL $(pg_major "$bindir") cluster in $PGDATA${RUN_AS:+ (as user $RUN_AS)}"
    local out
    if ! out=$(as_pg "$bindir/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 \
        --locale="$locale" --no-sync 2>&1); then
        printf '%s\n' "$out" >&2
        die "initdb failed for $PGDATA (see the output above)"
    fi
}

# ---------------------------------------------------------------------------
# Commands.

URL=""

cmd_url() {
    local probe_port=${AUTHGATE_DEV_PG_PORT:-5432}
    local local_port=${AUTHGATE_DEV_LOCAL_PORT:-54329}
    valid_port "$probe_port" || die "AUTHGATE_DEV_PG_PORT=$probe_port is not a valid port"
    valid_port "$local_port" || die "AUTHGATE_DEV_LOCAL_PORT=$local_port is not a valid port"
    probe_port=$((10#$probe_port)) local_port=$((10#$local_port))

    if probe "$probe_port"; then
        note "using the PostgreSQL server answering on 127.0.0.1:$probe_port"
        URL="postgres://postgres@127.0.0.1:$probe_port/${1:-postgres}?sslmode=disable"
        return 0
    fi

    local bindir
    bindir=$(pick_bindir) ||
        die "no PostgreSQL answers on 127.0.0.1:$probe_port and no PostgreSQL server programs are installed; set DATABASE_URL or install postgresql"
    note "nothing answers on 127.0.0.1:$probe_port; using a project-local cluster"

    cd /   # the cluster user may not be allowed into the current directory
    default_run_as
    choose_location
    take_lock

    local owner
    if [[ -f $PGDATA/PG_VERSION ]]; then
        local major
        major=$(<"$PGDATA/PG_VERSION")
        bindir=$(pick_bindir "$major") ||
            die "$PGDATA was created by PostgreSQL $major, whose server programs are not installed; install them or remove $PGDATA"
        owner=$(stat -c %U -- "$PGDATA")
        if (( EUID == 0 )); then
            if [[ $owner == root ]]; then
                note "$PGDATA is owned by root; giving it to user $RUN_AS"
                chown -R "$RUN_AS:$RUN_AS_GID" -- "$PGDATA"
            elif [[ $owner != "$RUN_AS" ]]; then
                set_run_as "$owner"
            fi
        elif [[ $owner != "$(id -un)" ]]; then
            die "$PGDATA belongs to user $owner; run this script as $owner or as root"
        fi
    else
        if [[ -e $PGDATA ]] && [[ -n $(ls -A -- "$PGDATA") ]]; then
            die "$PGDATA exists but is not a PostgreSQL data directory; remove it or set AUTHGATE_DATA_DIR"
        fi
        [[ -d $PGDATA ]] || mkdir -m 0700 -- "$PGDATA"
        chmod 0700 -- "$PGDATA"
        if [[ -n $RUN_AS ]]; then chown "$RUN_AS:$RUN_AS_GID" -- "$PGDATA"; fi
        init_cluster "$bindir"
    fi

    [[ -e $PGLOG ]] || : >"$PGLOG"
    if [[ -n $RUN_AS ]]; then chown "$RUN_AS:$RUN_AS_GID" -- "$PGLOG"; fi

    local port
    if as_pg "$bindir/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
        port=$(cluster_port) || die "cannot read the port of the cluster running in $PGDATA"
        if (( port != local_port )); then
            note "the cluster is already running on port $port (not $local_port); run '$PROG stop' to change it"
        fi
    else
        write_conf "$local_port"
        note "starting the cluster on 127.0.0.1:$local_port (log: $PGLOG)"
        if ! detached as_pg "$bindir/pg_ctl" -D "$PGDATA" -l "$PGLOG" -w -t 30 -s start </dev/null; then
            tail -n 15 -- "$PGLOG" >&2 || true
            die "could not start PostgreSQL in $PGDATA (is port $local_port in use? see $PGLOG)"
        fi
        port=$local_port
    fi

    local psql conninfo exists
    psql=$(client "$bindir" psql) || die "psql not found; install the PostgreSQL client programs"
    conninfo="host=127.0.0.1 port=$port user=postgres dbname=postgres sslmode=disable connect_timeout=5"
    local tries=0
    until exists=$("$psql" -X -q -A -t -v ON_ERROR_STOP=1 -d "$conninfo" \
        -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" 2>/dev/null); do
        (( ++tries < 20 )) ||
            die "the cluster in $PGDATA does not accept connections on 127.0.0.1:$port (see $PGLOG)"
        sleep 0.5
    done
    if [[ $exists != 1 ]]; then
        note "creating database $DB_NAME"
        "$psql" -X -q -v ON_ERROR_STOP=1 -d "$conninfo" -c "CREATE DATABASE $DB_NAME" >&2 ||
            die "could not create database $DB_NAME on 127.0.0.1:$port"
    fi
    URL="postgres://postgres@127.0.0.1:$port/$DB_NAME?sslmode=disable"
}

cmd_stop() {
    cd /
    [[ -d $DATA_DIR ]] || { note "no project-local cluster ($DATA_DIR does not exist)"; return 0; }
    take_lock
    local pgdata major bindir owner stopped=0
    for pgdata in "$DATA_DIR/pg" "$FALLBACK_DIR/pg"; do
        [[ -f $pgdata/PG_VERSION && -f $pgdata/postmaster.pid ]] || continue
        major=$(<"$pgdata/PG_VERSION")
        bindir=$(pick_bindir "$major") ||
            die "cannot stop $pgdata: PostgreSQL $major server programs are not installed"
        default_run_as
        owner=$(stat -c %U -- "$pgdata")
        if (( EUID == 0 )) && [[ $owner != root ]]; then set_run_as "$owner"; fi
        as_pg "$bindir/pg_ctl" -D "$pgdata" status >/dev/null 2>&1 || continue
        note "stopping the cluster in $pgdata"
        as_pg "$bindir/pg_ctl" -D "$pgdata" -w -t 30 -m fast -s stop ||
            die "could not stop the cluster in $pgdata"
        stopped=1
    done
    (( stopped )) || note "the project-local cluster is not running"
}

# cmd_reset: drop the database make run uses and forget everything under
# the data directory. A database DATABASE_URL names is its owner's: left alone.
cmd_reset() {
    local probe_port=${AUTHGATE_DEV_PG_PORT:-5432} psql
    valid_port "$probe_port" || die "AUTHGATE_DEV_PG_PORT=$probe_port is not a valid port"
    if [[ -n ${DATABASE_URL:-} ]]; then
        note "DATABASE_URL is set: leaving that database alone (drop it yourself if you mean to)"
    elif probe "$probe_port"; then
        psql=$(command -v psql) ||
            die "psql not found: cannot drop database $DB_NAME on 127.0.0.1:$probe_port; install the PostgreSQL client programs"
        note "dropping database $DB_NAME on 127.0.0.1:$probe_port"
        "$psql" -X -q -v ON_ERROR_STOP=1 \
            -d "host=127.0.0.1 port=$probe_port user=postgres dbname=postgres sslmode=disable connect_timeout=5" \
            -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" ||
            die "could not drop database $DB_NAME on 127.0.0.1:$probe_port"
    fi
    # The project-local cluster (and its copy of the database) goes with
    # the data directory.
    cmd_stop
    [[ -e $DATA_DIR ]] || { note "nothing to remove: $DATA_DIR does not exist"; return 0; }
    [[ ${DATA_DIR##*/} == .data ]] ||
        die "refusing to remove $DATA_DIR: make reset only removes a directory named .data"
    rm -rf -- "$FALLBACK_DIR" "$DATA_DIR"
    note "removed $DATA_DIR (the local cluster, the development secrets)"
}

case ${1:-} in
"" | run-url)
    if [[ -n ${DATABASE_URL:-} ]]; then
        printf '%s\n' "$DATABASE_URL"
        exit 0
    fi
    # Everything but the final URL goes to stderr.
    if [[ ${1:-} == run-url ]]; then cmd_url "$DB_NAME" >&2; else cmd_url >&2; fi
    printf '%s\n' "$URL"
    ;;
stop) cmd_stop >&2 ;;
reset) cmd_reset >&2 ;;
-h | --help) usage ;;
*)
    usage >&2
    exit 2
    ;;
esac
