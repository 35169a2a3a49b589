#!/usr/bin/env bash
# Usage: scripts/registry.sh start DIR [--tls|--mtls] [--token] [--redirect] [--owner-pid PID]
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
#           --token: `auth: token` instead of htpasswd: a token server
#           (scripts/registry-sidecars.py issuer, https with --tls) signs
#           RS256 JWTs with a throwaway RSA key whose self-signed certificate
#           is the registry's rootcertbundle. Its users: USER (pull, push,
#           delete), USER-ro (pull only: a push is denied) and USER-brief
#           (tokens the registry takes for BRIEF seconds, while the answer
#           says expires_in 60, as with a skewed clock), all with PASSWORD.
#           DIR/realm is its token URL, DIR/issuer.log its requests (JSON
#           lines), DIR/creds-ro and DIR/creds-brief the other users' creds.
#           --redirect: blobs are redirected (the `redirect` storage
#           middleware) to a static file server over the registry's storage
#           (scripts/registry-sidecars.py storage, plain http), the CDN
#           stand-in; DIR/storage-host is its HOST:PORT, DIR/storage.log its
#           requests with their headers (JSON lines).
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
SERVICE=ctrd-test-registry
ISSUER=ctrd-test-issuer
# Seconds the registry takes a token of USER-brief.
BRIEF=${CTRD_TOKEN_BRIEF:-4}
SIDECARS=$(dirname "$SELF")/registry-sidecars.py

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
    local tls=$1 mtls=$2 token=$3 redirect=$4
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
        if ((token)); then
            cat <<EOT
auth:
  token:
    realm: $(cat "$DIR/realm")
    service: $SERVICE
    issuer: $ISSUER
    rootcertbundle: $DIR/token.pem
EOT
        else
            cat <<EOT
auth:
  htpasswd:
    realm: ctrd-test
    path: $DIR/htpasswd
EOT
        fi
        if ((redirect)); then
            cat <<EOT
middleware:
  storage:
    - name: redirect
      options:
        baseurl: http://$(cat "$DIR/storage-host")
EOT
        fi
    } >"$DIR/config.yml"
}

# A throwaway RSA key the token server signs with (DIR/token.key) and its
# self-signed certificate, the registry's rootcertbundle (DIR/token.pem).
make_token_key() {
    openssl req -x509 -new -nodes -newkey rsa:2048 -keyout "$DIR/token.key" \
        -out "$DIR/token.pem" -days 2 -subj "/CN=$ISSUER" 2>/dev/null ||
        die "openssl: cannot make the token signing key"
}

# PID of sidecar KIND serving DIR ("" if none).
sidecar_pid() {
    local pid
    pid=$(cat "$DIR/$1.pid" 2>/dev/null || true)
    if alive "$pid" && [[ $(cmdline "$pid") == *"--log $DIR/$1.log"* ]]; then
        echo "$pid"
    fi
}

# start_sidecar KIND ARGS...: registry-sidecars.py KIND in the background
# (own session, like the registry); waits until it wrote its port.
start_sidecar() {
    local kind=$1 end pid
    shift
    rm -f "$DIR/$kind.port" "$DIR/$kind.pid"
    # shellcheck disable=SC2016
    setsid bash -c 'echo $$ >"$1"; shift; cd /; exec "$@"' _ "$DIR/$kind.pid" \
        python3 "$SIDECARS" "$kind" --port-file "$DIR/$kind.port" --log "$DIR/$kind.log" "$@" \
        </dev/null >>"$DIR/$kind.out" 2>&1 &
    end=$(( $(now_cs) + START_TIMEOUT * 100 ))
    until [[ -s $DIR/$kind.port ]]; do
        pid=$(cat "$DIR/$kind.pid" 2>/dev/null || true)
        if [[ -n $pid ]] && ! alive "$pid"; then
            log "the $kind sidecar exited during startup:"
            tail -n 20 "$DIR/$kind.out" >&2 || true
            return 1
        fi
        (( $(now_cs) < end )) || { log "the $kind sidecar did not start in ${START_TIMEOUT}s"; return 1; }
        sleep 0.05
    done
    touch "$DIR/$kind.log"
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
    local owner="" owner_st="" tls=0 mtls=0 token=0 redirect=0 host scheme=http tls_args=()
    while (($#)); do
        case $1 in
            --owner-pid) [[ $# -ge 2 ]] || usage; owner=$2; shift 2 ;;
            --tls) tls=1; shift ;;
            --mtls) tls=1 mtls=1; shift ;;
            --token) token=1; shift ;;
            --redirect) redirect=1; shift ;;
            *) usage ;;
        esac
    done
    command -v "$REGISTRY" >/dev/null || die "$REGISTRY not found (scripts/deps.sh installs docker-registry)"
    command -v htpasswd >/dev/null || die "htpasswd not found (scripts/deps.sh installs apache2-utils)"
    command -v curl >/dev/null || die "curl not found"
    if ((tls || token)); then command -v openssl >/dev/null || die "openssl not found"; fi
    if ((token || redirect)); then
        command -v python3 >/dev/null || die "python3 not found (scripts/deps.sh installs it)"
    fi
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
    if ((token)); then
        make_token_key
        printf '%s\n' "$USER_NAME:$PASSWORD:pull,push,delete:300:300" \
            "$USER_NAME-ro:$PASSWORD:pull:300:300" \
            "$USER_NAME-brief:$PASSWORD:pull,push,delete:$BRIEF:60" >"$DIR/token-users"
        echo "$USER_NAME-ro:$PASSWORD" >"$DIR/creds-ro"
        echo "$USER_NAME-brief:$PASSWORD" >"$DIR/creds-brief"
        if ((tls)); then
            scheme=https tls_args=(--tls-cert "$DIR/server.pem" --tls-key "$DIR/server.key")
        fi
        start_sidecar issuer --users "$DIR/token-users" --key "$DIR/token.key" \
            --cert "$DIR/token.pem" --issuer "$ISSUER" "${tls_args[@]}" || exit 1
        echo "$scheme://127.0.0.1:$(cat "$DIR/issuer.port")/token" >"$DIR/realm"
    fi
    if ((redirect)); then
        start_sidecar storage --root "$DIR/storage" || exit 1
        echo "127.0.0.1:$(cat "$DIR/storage.port")" >"$DIR/storage-host"
    fi
    write_config "$tls" "$mtls" "$token" "$redirect"
    launch "$tls" "$mtls" || exit 1
    host=$(cat "$DIR/host")
    write_hosts_dir "$tls" "$mtls" "$host"
    if [[ -n $owner ]]; then start_watchdog "$owner" "$owner_st"; fi
    trap - EXIT
    echo "$host"
}

cmd_stop() {
    local pid wpid kind
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
    for kind in issuer storage; do
        pid=$(sidecar_pid "$kind")
        if [[ -n $pid ]]; then
            kill -TERM "$pid" 2>/dev/null || true
            wait_gone "$pid" 5 || { kill -KILL "$pid" 2>/dev/null || true; wait_gone "$pid" 5 || true; }
        fi
    done
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
