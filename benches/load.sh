#!/usr/bin/env bash
# Load harness for the gateway (issue 4): the same wrk load, in one run, on
#   1. direct:       the upstream itself (nginx answering 200 to everything),
#   2. nginx:        nginx as a plain reverse proxy in front of it, as configured out of the
#                    box (`proxy_pass`; a new upstream connection per request), no auth,
#   3. nginx-ka:     the same with upstream keep-alive (a tuned nginx),
#   4. haproxy-jwt:  HAProxy 2.6 as an edge authorizer: the same HS256 tokens verified on every
#                    request (`jwt_verify`, `exp` checked) and an allow-list map of the 1,000
#                    requests (method, path, subject), with upstream keep-alive,
#   5. bare-hyper:   a hyper proxy built like the gateway (examples/bare_hyper.rs): the floor
#                    under Portcullis,
#   6. portcullis:   JWT auth, routing and a decision per request against the engine
#                    benchmark's world (10,000 orgs, 100,000 members, 1,000,000 shares), each
#                    request one the world allows, cycling over 1,000 requests spread over
#                    every org.
# Every proxy gets the same number of worker threads (THREADS, default: the CPU count). Each
# target gets 64 keep-alive connections (throughput) and 1 connection (latency). It prints
# req/s, CPU per request, p50 and p99, then the ratios against the goals of issue 12:
# Portcullis's CPU per request <= 1.2x nginx-ka's and <= 0.6x HAProxy+JWT's, req/s >= 2x
# HAProxy+JWT's, added p99 at 1 connection <= nginx-ka's, and <= 3 us of CPU per request
# above the bare hyper floor.
#
#   bash benches/load.sh            # DURATION=10 seconds per run by default
#
# It installs Debian's nginx, haproxy and wrk if missing, listens on 127.0.0.1 only, and stops every
# process it started (by pid) on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-$(nproc)}

if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null || ! command -v curl >/dev/null \
    || ! command -v haproxy >/dev/null; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nginx haproxy wrk curl >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)

cargo build --release --quiet --bin portcullis --example load_world --example bare_hyper

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP=$(free_port); NGX=$(free_port); NGXKA=$(free_port); HAP=$(free_port); BARE=$(free_port); GW=$(free_port)

echo "== generating the world (10,000 orgs, 1,000,000 shares) and 1,000 allowed requests"
./target/release/examples/load_world --out "$work/world" --listen "127.0.0.1:$GW" --upstream "127.0.0.1:$UP" --requests 1000

mkdir -p "$work/nginx-up" "$work/nginx-proxy" "$work/nginx-ka"
cat >"$work/nginx-up/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx-up/nginx.pid;
error_log $work/nginx-up/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $work/nginx-up;
    server {
        listen 127.0.0.1:$UP;
        location / { return 200 "ok\n"; }
    }
}
CONF
# proxy_conf DIR PORT KEEPALIVE: nginx in front of the upstream, with or without upstream keep-alive.
proxy_conf() {
    local dir=$1 port=$2 upstream_block="" location_extra=""
    if [ "$3" = yes ]; then
        upstream_block="upstream platform { server 127.0.0.1:$UP; keepalive 256; keepalive_requests 100000000; }"
        location_extra="proxy_http_version 1.1; proxy_set_header Connection \"\";"
    else
        upstream_block="upstream platform { server 127.0.0.1:$UP; }"
    fi
    cat >"$dir/nginx.conf" <<CONF
worker_processes $THREADS;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $dir;
    proxy_temp_path $dir;
    $upstream_block
    server {
        listen 127.0.0.1:$port;
        location / { proxy_pass http://platform; $location_extra }
    }
}
CONF
}
proxy_conf "$work/nginx-proxy" "$NGX" no
proxy_conf "$work/nginx-ka" "$NGXKA" yes
# HAProxy: the allow-list map, "METHOD|path|subject", from the requests and their tokens.
mkdir -p "$work/haproxy"
python3 - "$work/world/requests.lua" >"$work/haproxy/allow.map" <<'PY'
import base64, hashlib, json, re, sys
for method, path, token in re.findall(r'\{ "([A-Z]+)", "([^"]*)", "([^"]*)" \}', open(sys.argv[1]).read()):
    if token.startswith("pcat_"):
        # A service account's API token: known by its SHA-256.
        subject = hashlib.sha256(token.encode()).hexdigest()
    else:
        payload = token.split(".")[1]
        subject = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]
    print(f"{method}|{path}|{subject} allow")
PY
cat >"$work/haproxy/haproxy.cfg" <<CONF
global
    nbthread $THREADS
    maxconn 8000
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
    http-reuse always
frontend edge
    bind 127.0.0.1:$HAP
    http-request set-var(txn.bearer) http_auth_bearer
    http-request deny deny_status 401 unless { var(txn.bearer) -m found }
    acl api_token var(txn.bearer) -m beg pcat_
    http-request set-var(txn.sub) var(txn.bearer),sha2(256),hex,lower if api_token
    http-request deny deny_status 401 if !api_token !{ var(txn.bearer),jwt_header_query('\$.alg') -m str HS256 }
    http-request deny deny_status 401 if !api_token !{ var(txn.bearer),jwt_verify(HS256,"$(cat "$work/world/hmac.secret")") -m int 1 }
    http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('\$.exp','int') if !api_token
    http-request set-var(txn.now) date()
    http-request deny deny_status 401 if !api_token { var(txn.exp),sub(txn.now) -m int lt 0 }
    http-request set-var(txn.sub) var(txn.bearer),jwt_payload_query('\$.sub') if !api_token
    http-request set-var-fmt(txn.key) "%[method]|%[path]|%[var(txn.sub)]"
    http-request deny deny_status 403 unless { var(txn.key),map($work/haproxy/allow.map) -m found }
    default_backend platform
backend platform
    server up 127.0.0.1:$UP
CONF
"$HAPROXY" -c -q -f "$work/haproxy/haproxy.cfg" || { echo "haproxy does not accept the config"; exit 1; }
declare -A PID
"$NGINX" -c "$work/nginx-up/nginx.conf" -p "$work/nginx-up" & pids+=($!); PID[direct]=$!
"$NGINX" -c "$work/nginx-proxy/nginx.conf" -p "$work/nginx-proxy" & pids+=($!); PID[nginx]=$!
"$NGINX" -c "$work/nginx-ka/nginx.conf" -p "$work/nginx-ka" & pids+=($!); PID[nginx-ka]=$!
"$HAPROXY" -db -f "$work/haproxy/haproxy.cfg" & pids+=($!); PID[haproxy-jwt]=$!
./target/release/examples/bare_hyper --listen "127.0.0.1:$BARE" --upstream "127.0.0.1:$UP" --threads "$THREADS" 2>/dev/null & pids+=($!); PID[bare-hyper]=$!
sed -i "s/^policies = .*/policies = \"policies\"\nthreads = $THREADS/" "$work/world/config.toml"
./target/release/portcullis serve --config "$work/world/config.toml" 2>"$work/portcullis.log" & pids+=($!); PID[portcullis]=$!

# Ready when an allowed request of the script passes through the gateway.
first=$(grep -m1 '^  {' "$work/world/requests.lua" | sed 's/^  { "\([A-Z]*\)", "\([^"]*\)", "\([^"]*\)" },$/\1 \2 \3/')
read -r method path token <<<"$first"
echo "== waiting for Portcullis to load the world"
for _ in $(seq 1 240); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X "$method" -H "Authorization: Bearer $token" "http://127.0.0.1:$GW$path" || true)
    [ "$code" = 200 ] && break
    sleep 0.5
done
[ "$code" = 200 ] || { echo "Portcullis did not answer 200 (last: $code):"; cat "$work/portcullis.log"; exit 1; }

# wrk prints latencies as 123.45us, 1.23ms or 1.02s; this gives microseconds.
to_us() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1000000; else print n }'; }

# CPU time (user + system, in clock ticks) of a process and its children (nginx's workers).
cpu_ticks() {
    local pid
    for pid in "$1" $(pgrep -P "$1" || true); do awk '{ print $14 + $15 }' "/proc/$pid/stat"; done | awk '{ s += $1 } END { print s }'
}
TICK=$(getconf CLK_TCK)

declare -A RPS P50 P99 L50 L99 CPU
run() {
    local name=$1 port=$2 out before requests
    wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -s "$work/world/requests.lua" "http://127.0.0.1:$port" >/dev/null
    before=$(cpu_ticks "${PID[$name]}")
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$work/world/requests.lua" "http://127.0.0.1:$port")
    requests=$(awk '/requests in/ { print $1 }' <<<"$out")
    # CPU microseconds the target itself spent per request (the upstream's not included,
    # except for `direct`, which is the upstream).
    CPU[$name]=$(awk -v a="$before" -v b="$(cpu_ticks "${PID[$name]}")" -v n="$requests" -v t="$TICK" 'BEGIN { printf "%.1f", (b - a) / t * 1e6 / n }')
    if grep -q "Non-2xx" <<<"$out"; then echo "$name: some responses were not 2xx:"; echo "$out"; exit 1; fi
    RPS[$name]=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
    P50[$name]=$(to_us "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
    P99[$name]=$(to_us "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
    out=$(wrk -t1 -c1 -d"${DURATION}s" --latency -s "$work/world/requests.lua" "http://127.0.0.1:$port")
    L50[$name]=$(to_us "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
    L99[$name]=$(to_us "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
    printf '%-11s %10s req/s  %6s us CPU/req   p50 %6s us   p99 %6s us  |  1 conn: p50 %5s us   p99 %5s us\n' \
        "$name" "${RPS[$name]}" "${CPU[$name]}" "${P50[$name]}" "${P99[$name]}" "${L50[$name]}" "${L99[$name]}"
}

echo "== $CONNECTIONS connections x ${DURATION}s, then 1 connection x ${DURATION}s, per target ($(nproc) cores, shared with wrk)"
run direct "$UP"
run nginx "$NGX"
run nginx-ka "$NGXKA"
run haproxy-jwt "$HAP"
run bare-hyper "$BARE"
run portcullis "$GW"

echo
for base in nginx nginx-ka haproxy-jwt bare-hyper; do
    awk -v name="$base" -v pr="${RPS[portcullis]}" -v br="${RPS[$base]}" \
        -v d99="${P99[direct]}" -v b99="${P99[$base]}" -v p99="${P99[portcullis]}" \
        -v dl="${L99[direct]}" -v bl="${L99[$base]}" -v pl="${L99[portcullis]}" 'BEGIN {
        printf "against %-9s req/s ratio %.2fx   added p99 (64 conns) %6.0f us vs %6.0f us   added p99 (1 conn) %5.0f us vs %5.0f us\n",
            name, pr / br, p99 - d99, b99 - d99, pl - dl, bl - dl
    }'
done
awk -v p="${CPU[portcullis]}" -v b="${CPU[bare-hyper]}" -v n="${CPU[nginx]}" -v k="${CPU[nginx-ka]}" \
    -v h="${CPU[haproxy-jwt]}" -v pr="${RPS[portcullis]}" -v hr="${RPS[haproxy-jwt]}" \
    -v pl="${L99[portcullis]}" -v kl="${L99[nginx-ka]}" -v dl="${L99[direct]}" 'BEGIN {
    printf "CPU per request: Portcullis %.1f us = bare hyper %.1f us + %.1f us of its own; nginx %.1f us, nginx-ka %.1f us, HAProxy+JWT %.1f us\n", p, b, p - b, n, k, h
    print "goals (issue 12), from this run:"
    printf "  CPU/req vs nginx-ka      %.2fx (goal <= 1.2x)   %s\n", p / k, (p / k <= 1.2 ? "met" : "missed")
    printf "  CPU/req vs HAProxy+JWT   %.2fx (goal <= 0.6x)   %s\n", p / h, (p / h <= 0.6 ? "met" : "missed")
    printf "  req/s vs HAProxy+JWT     %.2fx (goal >= 2x)     %s\n", pr / hr, (pr / hr >= 2 ? "met" : "missed")
    printf "  added p99, 1 connection  %.0f us vs nginx-ka %.0f us   %s\n", pl - dl, kl - dl, (pl <= kl ? "met" : "missed")
    printf "  own work above the floor %.1f us (goal <= 3 us)   %s\n", p - b, (p - b <= 3 ? "met" : "missed")
}'
