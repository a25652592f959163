#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for the store tests on 127.0.0.1 (Debian's
# `postgresql` package), and prints its URL. Stop it with `scripts/test-postgres.sh stop DIR`.
#
#   url=$(scripts/test-postgres.sh start /tmp/pg) && PORTCULLIS_TEST_PG=$url cargo test --release
#
# The data folder is created fresh (and owned by the `postgres` user when run as root, since
# PostgreSQL refuses to run as root); nothing outside it is touched. Authentication is
# `trust`, for 127.0.0.1 only. `resume DIR PORT` starts a stopped server again on its data.
set -euo pipefail
action=${1:?usage: $0 start|stop|resume DIR [PORT]}
dir=${2:?usage: $0 start|stop|resume DIR [PORT]}
port=${3:-54329}
dir=$(realpath -m "$dir")
cd /  # the postgres user may not be able to enter the caller's folder
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
test -x "$bin/pg_ctl" || { echo "PostgreSQL is not installed: apt-get install -y postgresql" >&2; exit 1; }
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$action" in
start)
    rm -rf "$dir" && mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust >/dev/null
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200 -c fsync=on" start >/dev/null
    as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres portcullis
    echo "postgres://postgres@127.0.0.1:$port/portcullis"
    ;;
stop)
    as_pg "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null
    ;;
resume)
    # Starts a server stopped with `stop`, on its data as it was.
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200 -c fsync=on" start >/dev/null
    ;;
*)
    echo "usage: $0 start|stop|resume DIR [PORT]" >&2
    exit 2
    ;;
esac
