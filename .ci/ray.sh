#!/usr/bin/env bash
# A single-node Ray head for the Ray tests, bound to 127.0.0.1 only.
#
#   bash .ci/ray.sh run -- COMMAND...   install, start the head, run COMMAND with
#                                       RUNNER_TEST_RAY_ADDRESS set, always stop the
#                                       head; exits with COMMAND's status
#   bash .ci/ray.sh install             only install ray into its own venv
#   eval "$(bash .ci/ray.sh start)"     start a head and print `export ...` lines
#   bash .ci/ray.sh stop                stop the head that `start` started
#
# If installing or starting Ray fails, `run` says so loudly on stderr. In CI (CI set to
# anything but "", 0, false or no) it then exits 1 without running COMMAND: CI installs
# Ray, so a head that cannot start is a broken CI, not a reason to skip the Ray tests.
# Elsewhere it runs COMMAND without RUNNER_TEST_RAY_ADDRESS and the Ray tests skip.
#
# The recipe (shared/reference/ray-jobs.md, section 5(c)): ray[default] pinned, installed
# with uv into a venv of its own; RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 plus
# --node-ip-address=127.0.0.1 so every listener binds loopback; dashboard and other fixed
# ports outside the worker range 10002-19999; a --temp-dir of its own (short path: unix
# socket paths are limited to ~107 bytes); `ray start --block` under setsid, stopped by
# signalling that pid. Never `ray stop`: it kills Ray processes by name, machine-wide.
set -uo pipefail

RAY_VERSION="${RUNNER_RAY_VERSION:-2.60.0}"
# What the Ray tests' scripts import on the cluster (the seed sweep: examples/train-on-local).
RAY_EXTRA_PACKAGES=(numpy scikit-learn joblib)
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/runner-ci"
PYTHON_BIN="${RUNNER_RAY_PYTHON:-$(command -v python3 || command -v python)}"
PY_TAG="$("$PYTHON_BIN" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo unknown)"
VENV="${RUNNER_RAY_VENV:-$CACHE_DIR/ray-$RAY_VERSION-py$PY_TAG}"
STATE="${RUNNER_RAY_STATE:-$CACHE_DIR/head.env}"
START_TIMEOUT="${RUNNER_RAY_START_TIMEOUT:-120}"

say() { printf 'ray.sh: %s\n' "$*" >&2; }
loud() {
  printf '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' >&2
  printf '!!! ray.sh: %s\n' "$@" >&2
  printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n' >&2
}

in_ci() {  # the rule of tests/ci_skips.py
  case "$(printf '%s' "${CI:-}" | tr '[:upper:]' '[:lower:]')" in
    ""|0|false|no) return 1;;
    *) return 0;;
  esac
}

free_port() {  # an ephemeral port (>= 32768 on Linux): outside Ray's worker range
  "$PYTHON_BIN" - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

find_uv() {
  if command -v uv >/dev/null 2>&1; then command -v uv; return 0; fi
  local boot="$CACHE_DIR/uv-boot"
  if [ ! -x "$boot/bin/uv" ]; then
    say "uv not found; installing it into $boot"
    "$PYTHON_BIN" -m venv "$boot" && "$boot/bin/pip" install -q uv >&2 || return 1
  fi
  echo "$boot/bin/uv"
}

install() {
  if [ -x "$VENV/bin/ray" ] && "$VENV/bin/python" -c "import pip, ray, sklearn, joblib; assert ray.__version__ == '$RAY_VERSION'" 2>/dev/null; then
    say "reusing $VENV (ray $RAY_VERSION)"
    return 0
  fi
  local uv started=$SECONDS
  uv="$(find_uv)" || { say "could not get uv"; return 1; }
  mkdir -p "$CACHE_DIR"
  rm -rf "$VENV"
  "$uv" venv -q --seed -p "$PYTHON_BIN" "$VENV" >&2 || return 1   # --seed: pip, for runtime_env pip
  VIRTUAL_ENV="$VENV" timeout 600 "$uv" pip install -q "ray[default]==$RAY_VERSION" \
    "${RAY_EXTRA_PACKAGES[@]}" >&2 || return 1
  say "installed ray $RAY_VERSION into $VENV in $((SECONDS - started)) s"
}

# Start a head; on success sets RAY_PID, RAY_TMP, RAY_ADDRESS and writes $STATE.
start_head() {
  export RAY_USAGE_STATS_ENABLED=0 RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
  local dash client agent started=$SECONDS
  dash="${RUNNER_RAY_DASHBOARD_PORT:-$(free_port)}"
  client="$(free_port)"; agent="$(free_port)"
  RAY_TMP="$(mktemp -d -t rayci.XXXXXX)"
  # The venv first on PATH, as on a real cluster: a job's `python` is the one that has ray.
  PATH="$VENV/bin:$PATH" setsid "$VENV/bin/ray" start --head --block --disable-usage-stats --num-cpus=2 --port=0 \
    --node-ip-address=127.0.0.1 --include-dashboard=true --dashboard-host=127.0.0.1 \
    --dashboard-port="$dash" --ray-client-server-port="$client" \
    --dashboard-agent-listen-port="$agent" \
    --temp-dir="$RAY_TMP" </dev/null >"$RAY_TMP/head.log" 2>&1 &
  RAY_PID=$!
  RAY_ADDRESS="http://127.0.0.1:$dash"
  printf 'RAY_PID=%s\nRAY_TMP=%s\nRAY_ADDRESS=%s\n' "$RAY_PID" "$RAY_TMP" "$RAY_ADDRESS" >"$STATE"
  while [ $((SECONDS - started)) -lt "$START_TIMEOUT" ]; do
    if "$PYTHON_BIN" -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('$RAY_ADDRESS/api/jobs/', timeout=2).status == 200 else 1)" 2>/dev/null; then
      say "head pid $RAY_PID answers at $RAY_ADDRESS after $((SECONDS - started)) s (temp dir $RAY_TMP)"
      return 0
    fi
    if ! kill -0 "$RAY_PID" 2>/dev/null; then
      say "the head exited while starting; its log:"; tail -n 40 "$RAY_TMP/head.log" >&2
      stop_head; return 1
    fi
    sleep 0.25
  done
  say "the head did not answer within $START_TIMEOUT s; its log:"; tail -n 40 "$RAY_TMP/head.log" >&2
  stop_head
  return 1
}

stop_head() {
  if [ -z "${RAY_PID:-}" ] && [ -f "$STATE" ]; then
    # shellcheck disable=SC1090
    . "$STATE"
  fi
  [ -n "${RAY_PID:-}" ] || { say "no head to stop"; return 0; }
  local started=$SECONDS
  kill -TERM "$RAY_PID" 2>/dev/null || true
  for _ in $(seq 1 75); do kill -0 "$RAY_PID" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$RAY_PID" 2>/dev/null; then
    say "the head did not stop within 15 s of SIGTERM; killing it"
  fi
  kill -KILL -- "-$RAY_PID" 2>/dev/null || true   # its own process group (setsid): stragglers
  if [ -n "${RAY_TMP:-}" ]; then
    # Last resort, by pid: processes of *this* head have its unique temp dir in their
    # command line or as their working folder (job drivers); never a match by a generic
    # name, which could hit another Ray on the machine.
    local left="" p
    for p in /proc/[0-9]*; do
      case "$(readlink "$p/cwd" 2>/dev/null)" in "$RAY_TMP"/*) left="$left ${p#/proc/}";; esac
    done
    left="$left $(pgrep -f -- "$RAY_TMP" | tr '\n' ' ')"
    if [ -n "${left// /}" ]; then
      say "killing leftover processes of this head:$left"
      # shellcheck disable=SC2086
      kill -KILL $left 2>/dev/null || true
    fi
    rm -rf "$RAY_TMP"
  fi
  rm -f "$STATE"
  say "head $RAY_PID stopped in $((SECONDS - started)) s"
  RAY_PID=""
}

case "${1:-}" in
  install)
    install
    ;;
  start)
    install && start_head || { loud "could not install or start Ray"; exit 1; }
    echo "export RUNNER_TEST_RAY_ADDRESS=$RAY_ADDRESS"
    ;;
  stop)
    stop_head
    ;;
  run)
    shift
    [ "${1:-}" = "--" ] && shift
    [ $# -gt 0 ] || { say "usage: bash .ci/ray.sh run -- COMMAND..."; exit 2; }
    RAY_PID=""
    trap 'stop_head' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    if install && start_head; then
      export RUNNER_TEST_RAY_ADDRESS="$RAY_ADDRESS"
    elif in_ci; then
      loud "Ray could not be installed or started (see above)." \
           "CI is set, so this fails the run: the Ray tests must not skip in CI."
      exit 1
    else
      loud "Ray could not be installed or started (see above)." \
           "The Ray tests will be SKIPPED; the rest of the suite runs."
      unset RUNNER_TEST_RAY_ADDRESS
    fi
    "$@"
    status=$?
    exit "$status"   # the EXIT trap stops the head
    ;;
  *)
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
