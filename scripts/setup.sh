# Sourced by scripts/test and scripts/demo: installs the Debian packages a command needs
# when they are missing and this shell may (root, apt-get), and says plainly what it could
# not set up. Nothing is installed when everything is there already.
#
#   ensure tool:package ...    e.g. ensure nginx:nginx
#
# A tool is a command name, or a glob of a path that must exist (PostgreSQL's server is not
# on PATH: /usr/lib/postgresql/*/bin/pg_ctl). Sets UNAVAILABLE to the packages still missing.

have() {
    case "$1" in
    /*) compgen -G "$1" >/dev/null ;;
    *) command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ] ;;
    esac
}

ensure() {
    local wanted=() pair
    for pair in "$@"; do
        have "${pair%%:*}" || wanted+=("${pair#*:}")
    done
    UNAVAILABLE=()
    [ ${#wanted[@]} -eq 0 ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing ${wanted[*]} (Debian packages)" >&2
        export DEBIAN_FRONTEND=noninteractive
        if ! { apt-get update -qq && apt-get install -y -qq "${wanted[@]}" >/dev/null; }; then
            echo "setup: apt-get could not install ${wanted[*]}" >&2
        fi
    fi
    for pair in "$@"; do
        have "${pair%%:*}" || UNAVAILABLE+=("${pair#*:}")
    done
    if [ ${#UNAVAILABLE[@]} -gt 0 ]; then
        echo "setup: missing ${UNAVAILABLE[*]}, and this shell cannot install them (it needs root and apt-get):" >&2
        echo "       install them with: sudo apt-get install -y ${UNAVAILABLE[*]}" >&2
    fi
}

missing() {
    local p
    for p in "${UNAVAILABLE[@]}"; do [ "$p" = "$1" ] && return 0; done
    return 1
}
