#!/bin/sh
# Runs the Temporal CLI named by BATON_TEMPORAL_CLI with these arguments, and ends it once the process that
# started it is gone: a `baton dev` killed with SIGKILL leaves no dev server behind (temporal/dev-server.ts).
# The watcher checks once a second; it stops on its own when the server exits first.
parent=$PPID
self=$$
start=$(cut -d' ' -f22 "/proc/$self/stat" 2>/dev/null)
alive() { [ "$(cut -d' ' -f22 "/proc/$self/stat" 2>/dev/null)" = "$start" ]; }
(
  trap '' INT TERM HUP
  while kill -0 "$parent" 2>/dev/null && alive; do sleep 1; done
  if alive; then
    kill -TERM "$self" 2>/dev/null
    sleep 5
    alive && kill -KILL "$self" 2>/dev/null
  fi
) </dev/null >/dev/null 2>&1 &
exec "$BATON_TEMPORAL_CLI" "$@"
