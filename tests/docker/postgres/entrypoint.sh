#!/bin/sh
# Entrypoint of the test-only PostgreSQL image (tests/docker/postgres/Dockerfile): what the
# official image's does with the variables docker/compose.yaml sets, and no more.
#   POSTGRES_PASSWORD_FILE / POSTGRES_PASSWORD  the superuser's password (the file is read as
#                                               root, like the official image: a compose secret
#                                               may be mode 600 and owned by someone else)
#   POSTGRES_USER (postgres)                    the superuser made by initdb
#   POSTGRES_DB (= POSTGRES_USER)               a database made on first start
#   PGDATA (/var/lib/postgresql/data)           the data folder; initialised when empty
# The server listens on every address of the container (the compose network) and asks for a
# password (scram-sha-256) from the network; local socket connections are trusted.
set -eu

if [ "${1:-}" != postgres ]; then
    exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
    if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
        POSTGRES_PASSWORD=$(cat "$POSTGRES_PASSWORD_FILE")
        export POSTGRES_PASSWORD
        unset POSTGRES_PASSWORD_FILE
    fi
    mkdir -p "$PGDATA" /var/run/postgresql
    chown -R postgres:postgres "$PGDATA"
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
    POSTGRES_PASSWORD=$(cat "$POSTGRES_PASSWORD_FILE")
fi
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE is required}"
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    echo "postgres-entrypoint: initialising $PGDATA (user $user, database $db)"
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb -D "$PGDATA" --username="$user" --pwfile="$pwfile" --encoding=UTF8 \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    if [ "$db" != postgres ]; then
        # A server on a private socket only, so that the healthcheck (pg_isready on the usual
        # socket) says ready only once the real server below runs.
        init_socket=$(mktemp -d)
        pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -k $init_socket" start >/dev/null
        psql -h "$init_socket" -U "$user" -d postgres -v ON_ERROR_STOP=1 -q \
            -c "CREATE DATABASE \"$db\" OWNER \"$user\""
        pg_ctl -D "$PGDATA" -w -m fast stop >/dev/null
        rmdir "$init_socket"
    fi
    echo "postgres-entrypoint: initialised"
fi
unset POSTGRES_PASSWORD
exec "$@"
