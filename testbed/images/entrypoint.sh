#!/bin/sh
# The part of the official postgres and redis images' entrypoints the sample stack relies on:
# first-start initialisation from the environment, and dropping root before the server starts.
set -eu

case "${1:-}" in
postgres)
    if [ "$(id -u)" = 0 ]; then
        # A fresh named volume may come up root-owned; PostgreSQL refuses to run as root.
        mkdir -p "$PGDATA" /var/run/postgresql
        chown postgres:postgres "$PGDATA" /var/run/postgresql
        chmod 700 "$PGDATA"
        exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
    fi
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
        : "${POSTGRES_PASSWORD:?is required, as with the official image}"
        user=${POSTGRES_USER:-postgres}
        pwfile=$(mktemp)
        printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
        # Local socket trusted, the network by password: the official image's defaults.
        initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" \
            --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
        rm -f "$pwfile"
        echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
        echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
        db=${POSTGRES_DB:-$user}
        if [ "$db" != postgres ]; then
            echo "CREATE DATABASE \"$db\";" | postgres --single -D "$PGDATA" postgres >/dev/null
        fi
        echo "itops-testbed-entrypoint: initialised $PGDATA (database $db)"
    fi
    ;;
redis-server)
    if [ "$(id -u)" = 0 ]; then
        chown redis:redis .
        exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
    fi
    # No config file given: like the official image, listen for the other containers
    # instead of refusing them in protected mode.
    case "${2:-}" in
    "" | -*) set -- "$@" --protected-mode no ;;
    esac
    ;;
esac
exec "$@"
