#!/usr/bin/env bash
# Usage: scripts/registry.sh start DIR [--tls|--mtls] [--owner-pid PID]
#        scripts/registry.sh stop DIR
#
# Manages a private OCI registry (Debian's docker-registry, the CNCF
# distribution registry) on 127.0.0.1, on a free port, whose config, storage,
# credentials, certificates and log all live in DIR; the system's registry
# service (/etc/docker/registry, port 5000) is never used.
#   start   write DIR/config.yml and DIR/htpasswd (bcrypt), with --tls also a
#           throwaway CA (DIR/ca.pem) and a server cert for 127.0.0.1; start the
#           registry and wait until /v2/ answers 401 (basic auth is always on).
#           DIR/creds holds "USER:PASSWORD"; DIR/host "127.0.0.1:PORT";
#           DIR/hosts.d is a ctr --hosts-dir for it (with --tls: https + CA).
#           --mtls: --tls, and the registry wants a client certificate signed
#           by a CA of its own (DIR/client.pem and DIR/client.key, named by
#           DIR/hosts.d).
#           With --owner-pid, a detached watchdog runs `stop DIR` once PID is
#           gone. stdout: HOST:PORT (last line). Fails if DIR is in use.
#   stop    stop the registry and its watchdog, remove DIR. Idempotent, bounded.
# Env: REGISTRY_BIN (default docker-registry), CTRD_START_TIMEOUT (seconds,
#      default 20), CTRD_WATCHDOG_LOG (the watchdog's output; default /dev/null).
set -euo pipefail

REGISTRY=${REGISTRY_BIN:-docker-registry}
START_TIMEOUT=${CTRD_START_TIMEOUT:-20}
SELF=$(realpath "${BASH_SOURCE[0]}")
MARKER=.ctrd-registry  # marks a DIR created by this script (guards rm -rf)
USER_NAME=ctrd
PASSWORD=ctrd-secret

usage() {
    sed -n '2,3s/^# //p' "$SELF" >&2
    exit 2
}
die() { echo "registry.sh: $*" >&2; exit 1; }
log() { echo "registry.sh: $*" >&2; }

# now_cs, cmdline, alive, starttime, wait_gone.
# shellcheck source=scripts/proc.sh
source "$(dirname "$SELF")/proc.sh"

# PID of the registry serving DIR ("" if none).
registry_pid() {
    local pid
    pid=$(cat "$DIR/registry.pid" 2>/dev/null || true)
    if alive "$pid" && [[ $(cmdline "$pid") == *"$DIR/config.yml"* ]]; then
        echo "$pid"
    fi
}

make_certs() {
    local ossl=(openssl)
    "${ossl[@]}" req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout "$DIR/ca.key" -out "$DIR/ca.pem" -days 2 -subj "/CN=ctrd-test-ca" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null ||
        die "openssl: cannot make the CA"
    "${ossl[@]}" req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout "$DIR/server.key" -out "$DIR/server.csr" -subj "/CN=127.0.0.1" 2>/dev/null ||
        die "openssl: cannot make the server key"
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" \
        >"$DIR/server.ext"
    "${ossl[@]}" x509 -req -in "$DIR/server.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" \
        -CAcreateserial -days 2 -extfile "$DIR/server.ext" -out "$DIR/server.pem" 2>/dev/null ||
        die "openssl: cannot sign the server cert"
    rm -f "$DIR/server.csr" "$DIR/server.ext" "$DIR/ca.key" "$DIR/ca.srl"
}

# A CA for client certificates (DIR/client-ca.pem) and a client certificate
# it signed (DIR/client.pem, DIR/client.key).
make_client_certs() {
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout "$DIR/client-ca.key" -out "$DIR/client-ca.pem" -days 2 \
        -subj "/CN=ctrd-test-client-ca" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null ||
        die "openssl: cannot make the client CA"
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout "$DIR/client.key" -out "$DIR/client.csr" -subj "/CN=ctrd-test-client" \
        2>/dev/null || die "openssl: cannot make the client key"
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=clientAuth" >"$DIR/client.ext"
    openssl x509 -req -in "$DIR/client.csr" -CA "$DIR/client-ca.pem" \
        -CAkey "$DIR/client-ca.key" -CAcreateserial -days 2 -extfile "$DIR/client.ext" \
        -out "$DIR/client.pem" 2>/dev/null || die "openssl: cannot sign the client cert"
    rm -f "$DIR/client.csr" "$DIR/client.ext" "$DIR/client-ca.key" "$DIR/client-ca.srl"
}

write_config() {
    local tls=$1 mtls=$2
    {
        cat <<EOT
# Private registry for tests; written by scripts/registry.sh.
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $DIR/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:0
  headers:
    X-Content-Type-Options: [nosniff]
EOT
        if ((tls)); then
            cat <<EOT
  tls:
    certificate: $DIR/server.pem
    key: $DIR/server.key
EOT
        fi
        if ((mtls)); then
            cat <<EOT
    clientcas:
      - $DIR/client-ca.pem
EOT
        fi
        cat <<EOT
auth:
  htpasswd:
    realm: ctrd-test
    path: $DIR/htpasswd
EOT
    } >"$DIR/config.yml"
}

# The port from the registry's "listening on 127.0.0.1:PORT" log line.
log_port() {
    sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$DIR/registry.log" | head -n1
}

launch() {
    local tls=$1 mtls=$2 pid port code end scheme=http curl_tls=()
    if ((tls)); then scheme=https curl_tls=(--cacert "$DIR/ca.pem"); fi
    if ((mtls)); then curl_tls+=(--cert "$DIR/client.pem" --key "$DIR/client.key"); fi
    rm -f "$DIR/registry.pid"
    # setsid: own session; stdio to the log so callers' pipes are not held open.
    # shellcheck disable=SC2016
    setsid bash -c 'echo $$ >"$1"; cd /; exec "$2" serve "$3"' _ \
        "$DIR/registry.pid" "$REGISTRY" "$DIR/config.yml" \
        </dev/null >>"$DIR/registry.log" 2>&1 &
    end=$(( $(now_cs) + START_TIMEOUT * 100 ))
    while :; do
        pid=$(cat "$DIR/registry.pid" 2>/dev/null || true)
        port=$(log_port)
        if [[ -n $port ]]; then
            code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "${curl_tls[@]}" \
                "$scheme://127.0.0.1:$port/v2/" 2>/dev/null || true)
            if [[ $code == 401 ]]; then
                echo "127.0.0.1:$port" >"$DIR/host"
                return 0
            fi
        fi
        if [[ -n $pid ]] && ! alive "$pid"; then
            log "docker-registry exited during startup; log tail:"
            tail -n 30 "$DIR/registry.log" >&2 || true
            return 1
        fi
        if (( $(now_cs) >= end )); then
            log "docker-registry did not answer 401 on /v2/ within ${START_TIMEOUT}s" \
                "(last status: ${code:-none}); log tail:"
            tail -n 30 "$DIR/registry.log" >&2 || true
            if [[ -n $pid ]]; then kill -9 "$pid" 2>/dev/null || true; fi
            return 1
        fi
        sleep 0.1
    done
}

# A ctr --hosts-dir for the registry: ctr 1.6 talks plain HTTP to any
# loopback registry unless a hosts.toml names an https server.
write_hosts_dir() {
    local tls=$1 mtls=$2 host=$3 d=$DIR/hosts.d/$3
    mkdir -p "$d"
    if ((tls)); then
        cat >"$d/hosts.toml" <<EOT
server = "https://$host"

[host."https://$host"]
  capabilities = ["pull", "resolve", "push"]
  ca = "$DIR/ca.pem"
EOT
        if ((mtls)); then
            echo "  client = [[\"$DIR/client.pem\", \"$DIR/client.key\"]]" >>"$d/hosts.toml"
        fi
    else
        cat >"$d/hosts.toml" <<EOT
server = "http://$host"

[host."http://$host"]
  capabilities = ["pull", "resolve", "push"]
EOT
    fi
}

# start_watchdog PID STARTTIME: the owner's start time as read before the
# registry was launched, so an owner that died meanwhile still gets it stopped.
start_watchdog() {
    local owner=$1 st=$2
    # Polls every 0.5 s; stops the registry once the owner is gone (or exits
    # if DIR was already stopped). $0 "ctrd-registry-watchdog" identifies it.
    # shellcheck disable=SC2016
    setsid bash -c '
        echo $$ >"$3/watchdog.pid"
        alive() {
            local s rest f
            s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
            rest=${s##*) }; read -ra f <<<"$rest"
            [[ ${f[0]} != Z && ${f[0]} != X && ${f[19]} == "$2" ]]
        }
        while alive "$1" "$2" && [[ -e $3/'"$MARKER"' ]]; do sleep 0.5; done
        [[ -e $3/'"$MARKER"' ]] && CTRD_FROM_WATCHDOG=1 exec "$4" stop "$3"
    ' ctrd-registry-watchdog "$owner" "$st" "$DIR" "$SELF" \
        </dev/null >>"${CTRD_WATCHDOG_LOG:-/dev/null}" 2>&1 &
}

cmd_start() {
    local owner="" owner_st="" tls=0 mtls=0 host
    while (($#)); do
        case $1 in
            --owner-pid) [[ $# -ge 2 ]] || usage; owner=$2; shift 2 ;;
            --tls) tls=1; shift ;;
            --mtls) tls=1 mtls=1; shift ;;
            *) usage ;;
        esac
    done
    command -v "$REGISTRY" >/dev/null || die "$REGISTRY not found (scripts/deps.sh installs docker-registry)"
    command -v htpasswd >/dev/null || die "htpasswd not found (scripts/deps.sh installs apache2-utils)"
    command -v curl >/dev/null || die "curl not found"
    if ((tls)); then command -v openssl >/dev/null || die "openssl not found"; fi
    if [[ -n $owner ]]; then
        owner_st=$(alive "$owner" && starttime "$owner") ||
            die "owner pid $owner is not running"
    fi
    if [[ -e $DIR && ! -e $DIR/$MARKER ]] && [[ -n $(ls -A "$DIR") ]]; then
        die "$DIR exists, is not empty and was not made by registry.sh"
    fi
    [[ -z $(registry_pid) ]] || die "a registry already runs for $DIR"
    mkdir -p "$DIR/storage"
    chmod 700 "$DIR"
    touch "$DIR/$MARKER"
    # A failed start leaves nothing: no registry, no DIR.
    trap 'cmd_stop' EXIT
    rm -f "$DIR/registry.log" "$DIR/host"
    htpasswd -Bbc "$DIR/htpasswd" "$USER_NAME" "$PASSWORD" 2>/dev/null ||
        die "htpasswd -B failed"
    echo "$USER_NAME:$PASSWORD" >"$DIR/creds"
    if ((tls)); then make_certs; fi
    if ((mtls)); then make_client_certs; fi
    write_config "$tls" "$mtls"
    launch "$tls" "$mtls" || exit 1
    host=$(cat "$DIR/host")
    write_hosts_dir "$tls" "$mtls" "$host"
    if [[ -n $owner ]]; then start_watchdog "$owner" "$owner_st"; fi
    trap - EXIT
    echo "$host"
}

cmd_stop() {
    local pid wpid
    [[ -e $DIR ]] || return 0
    [[ -e $DIR/$MARKER ]] || die "$DIR was not made by registry.sh; not touching it"
    wpid=$(cat "$DIR/watchdog.pid" 2>/dev/null || true)
    if [[ -z ${CTRD_FROM_WATCHDOG:-} ]] && alive "$wpid" &&
        [[ $(cmdline "$wpid") == *ctrd-registry-watchdog* ]]; then
        kill -9 "$wpid" 2>/dev/null || true
    fi
    pid=$(registry_pid)
    if [[ -n $pid ]]; then
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_gone "$pid" 10; then
            log "docker-registry $pid ignored SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$pid" 5 || log "docker-registry $pid still alive"
        fi
    fi
    rm -rf "$DIR" || die "could not remove $DIR"
}

(($# >= 2)) || usage
action=$1 DIR=$2
shift 2
[[ -n $DIR ]] || usage
DIR=$(realpath -m "$DIR")
[[ $DIR != / ]] || die "refusing to use /"
[[ $DIR != *[\"\\[:space:]]* ]] || die "DIR must not contain quotes, backslashes or spaces"

case $action in
    start) cmd_start "$@" ;;
    stop) (($# == 0)) || usage; cmd_stop ;;
    *) usage ;;
esac
