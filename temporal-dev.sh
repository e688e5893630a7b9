#!/usr/bin/env bash
# Temporal dev server for the embedded defaults (and for tests).
#
#   ./temporal-dev.sh [start]   ensure a Temporal CLI, then start `temporal server start-dev` in the
#                               background, persisted to $DATA_DIR/temporal/temporal.db, Web UI on
#                               $TEMPORAL_DEV_UI_PORT; waits until it answers. Does nothing when a
#                               server already answers on the port.
#   ./temporal-dev.sh stop      stop the server this script started
#   ./temporal-dev.sh cli       only make sure the CLI exists; print its path
#
# Environment: DATA_DIR (./data), TEMPORAL_DEV_PORT (7233), TEMPORAL_DEV_UI_PORT (8233),
# TEMPORAL_DEV_DB (file path, or "memory" for an in-memory server), TEMPORAL_DEV_HEADLESS=1 (no UI),
# TEMPORAL_DEV_EXTRA_ARGS (more flags for start-dev).
# Last line printed on start: "temporal-dev: started pid N" or "temporal-dev: already running".
set -euo pipefail
cd "$(dirname "$0")"

CLI_VERSION=1.5.1   # newest that `go install` can build (shared/reference/temporal-notes.md §1)
DATA_DIR=${DATA_DIR:-./data}
PORT=${TEMPORAL_DEV_PORT:-7233}
UI_PORT=${TEMPORAL_DEV_UI_PORT:-8233}
STATE_DIR="$DATA_DIR/temporal"
DB=${TEMPORAL_DEV_DB:-$STATE_DIR/temporal.db}
PIDFILE="$STATE_DIR/server-$PORT.pid"
LOG="$STATE_DIR/server-$PORT.log"

# Custom search attributes the workflows use (workflows/search-attributes.ts must match).
SEARCH_ATTRIBUTES=(SessionId=Keyword SessionStatus=Keyword EntryType=Keyword StepId=Keyword StepStatus=Keyword PodState=Keyword)

say() { echo "temporal-dev: $*" >&2; }

find_cli() {
  if [ -x .tools/bin/temporal ]; then echo "$PWD/.tools/bin/temporal"; return; fi
  if command -v temporal >/dev/null 2>&1; then command -v temporal; return; fi
  return 1
}

ensure_cli() {
  find_cli && return
  mkdir -p .tools/bin
  if command -v go >/dev/null 2>&1; then
    say "building the Temporal CLI v$CLI_VERSION with go install (a few minutes the first time)"
    if GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$PWD/.tools/bin" go install -trimpath \
        -ldflags "-s -w -X github.com/temporalio/cli/temporalcli.Version=$CLI_VERSION" \
        "github.com/temporalio/cli/cmd/temporal@v$CLI_VERSION" >&2; then
      echo "$PWD/.tools/bin/temporal"; return
    fi
    say "go install failed; trying the official download"
  fi
  local arch; arch=$(uname -m); case "$arch" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; esac
  local os; os=$(uname -s | tr '[:upper:]' '[:lower:]')
  curl -fsSL "https://temporal.download/cli/archive/v$CLI_VERSION?platform=$os&arch=$arch" | tar -xz -C .tools/bin temporal >&2
  echo "$PWD/.tools/bin/temporal"
}

healthy() {
  "$1" operator cluster health --address "127.0.0.1:$PORT" >/dev/null 2>&1 &&
    "$1" operator namespace describe -n default --address "127.0.0.1:$PORT" >/dev/null 2>&1
}

start() {
  local cli; cli=$(ensure_cli)
  if healthy "$cli"; then say "already running"; return 0; fi
  mkdir -p "$STATE_DIR"
  local args=(server start-dev --ip 127.0.0.1 --port "$PORT" --namespace default --log-level warn
    --dynamic-config-value frontend.enableUpdateWorkflowExecution=true
    --dynamic-config-value frontend.enableUpdateWorkflowExecutionAsyncAccepted=true
    --dynamic-config-value frontend.enableExecuteMultiOperation=true
    --dynamic-config-value system.enableActivityEagerExecution=true)
  [ "$DB" = memory ] || args+=(--db-filename "$DB")
  if [ "${TEMPORAL_DEV_HEADLESS:-}" = 1 ]; then args+=(--headless); else args+=(--ui-port "$UI_PORT"); fi
  for sa in "${SEARCH_ATTRIBUTES[@]}"; do args+=(--search-attribute "$sa"); done
  # shellcheck disable=SC2206
  [ -n "${TEMPORAL_DEV_EXTRA_ARGS:-}" ] && args+=($TEMPORAL_DEV_EXTRA_ARGS)
  # Own session: a Ctrl-C meant for the caller does not reach it; `stop` does.
  setsid "$cli" "${args[@]}" >"$LOG" 2>&1 < /dev/null &
  local pid=$!
  echo "$pid" > "$PIDFILE"
  for _ in $(seq 1 240); do
    if healthy "$cli"; then echo "temporal-dev: started pid $pid"; return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then say "server exited; log follows"; cat "$LOG" >&2; rm -f "$PIDFILE"; return 1; fi
    sleep 0.25
  done
  say "server did not answer within 60 s; log: $LOG"; return 1
}

stop() {
  [ -f "$PIDFILE" ] || { say "not started by this script"; return 0; }
  local pid; pid=$(cat "$PIDFILE")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
  say "stopped pid $pid"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  cli) ensure_cli ;;
  *) echo "usage: $0 [start|stop|cli]" >&2; exit 2 ;;
esac
