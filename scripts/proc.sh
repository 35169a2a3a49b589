# Process helpers shared by scripts/daemon.sh and scripts/registry.sh
# (sourced, not run): bounded waits and liveness checks read from /proc.

# Seconds since boot in hundredths (for bounded waits without date math).
now_cs() { local u; read -r u _ </proc/uptime; u=${u/./}; echo $((10#$u)); }

# Command line of PID with NULs as spaces ("" if gone).
cmdline() { tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" || true; }

# True if PID runs and is not a zombie; with START, its start time must match.
alive() {
    local pid=$1 want=${2:-} s rest f
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    s=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    rest=${s##*) }
    read -ra f <<<"$rest"
    [[ ${f[0]} != Z && ${f[0]} != X ]] || return 1
    [[ -z $want || ${f[19]} == "$want" ]]
}

# The start time of PID (clock ticks since boot), to tell it from a reused pid.
starttime() { local s rest f; s=$(cat "/proc/$1/stat") && rest=${s##*) } && read -ra f <<<"$rest" && echo "${f[19]}"; }

# Wait until PID is gone, at most $2 seconds. Returns 1 on timeout.
wait_gone() {
    local pid=$1 end=$(( $(now_cs) + $2 * 100 ))
    while alive "$pid"; do
        (( $(now_cs) < end )) || return 1
        sleep 0.1
    done
}
