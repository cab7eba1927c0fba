#!/usr/bin/env bash
# Behaviour tests for the braidrun launcher: the environment each rank sees, tagged output,
# how one failing rank takes the job down, timeouts, signal forwarding and argument checking.
# Usage: braidrun_test.sh /path/to/braidrun
# The rank commands are single-quoted on purpose: $RANK etc. must expand in each rank.
# shellcheck disable=SC2016
set -euo pipefail

BRAIDRUN=${1:?usage: braidrun_test.sh /path/to/braidrun}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

passed=0
failed=0

pass() {
  passed=$((passed + 1))
  echo "PASS: $1"
}

fail() {
  failed=$((failed + 1))
  echo "FAIL: $1"
  shift
  local detail
  for detail in "$@"; do echo "    $detail"; done
  if [[ -s $WORK/out ]]; then sed 's/^/    stdout: /' "$WORK/out"; fi
  if [[ -s $WORK/err ]]; then sed 's/^/    stderr: /' "$WORK/err"; fi
}

now_us() { echo "${EPOCHREALTIME/./}"; }

# Runs braidrun with the given arguments; sets RC and ELAPSED_MS, output lands in out/err.
launch() {
  local start
  start=$(now_us)
  RC=0
  "$BRAIDRUN" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null || RC=$?
  ELAPSED_MS=$((($(now_us) - start) / 1000))
}

# True once none of the pids listed in the given files is alive. Killed processes need a
# moment to be reaped by whoever inherits them, hence the short retry.
pids_gone() {
  local tries pid file alive
  for ((tries = 0; tries < 20; tries++)); do
    alive=0
    for file in "$@"; do
      pid=$(cat "$file")
      if kill -0 "$pid" 2>/dev/null; then alive=1; fi
    done
    if ((alive == 0)); then return 0; fi
    sleep 0.1
  done
  return 1
}

test_environment_and_tags() {
  local name="4 ranks see RANK/WORLD_SIZE/LOCAL_*/BRAID_COMM_ID, output tagged"
  launch -n 4 --tag-output sh -c \
    'echo $RANK $WORLD_SIZE $LOCAL_RANK $LOCAL_WORLD_SIZE $BRAID_COMM_ID $BRAID_SOCKET_IFNAME'
  if ((RC != 0)); then
    fail "$name" "exit status $RC, expected 0"
    return
  fi
  local comm_id="" r line
  for r in 0 1 2 3; do
    line=$(grep "^\[$r\] " "$WORK/out" || true)
    if ! [[ $line =~ ^\[$r\]\ $r\ 4\ $r\ 4\ (127\.0\.0\.1:[0-9]+)\ lo$ ]]; then
      fail "$name" "bad line for rank $r: '$line'"
      return
    fi
    if [[ -n $comm_id && $comm_id != "${BASH_REMATCH[1]}" ]]; then
      fail "$name" "ranks disagree on BRAID_COMM_ID: $comm_id vs ${BASH_REMATCH[1]}"
      return
    fi
    comm_id=${BASH_REMATCH[1]}
  done
  if [[ $(wc -l <"$WORK/out") -ne 4 ]]; then
    fail "$name" "expected exactly 4 lines"
    return
  fi
  pass "$name"
}

test_port_and_ifname_override() {
  local name="--port sets BRAID_COMM_ID, a user BRAID_SOCKET_IFNAME is kept, -np works"
  RC=0
  BRAID_SOCKET_IFNAME=eth7 "$BRAIDRUN" -np 2 --port 29517 --tag-output -- \
    sh -c 'echo $BRAID_COMM_ID $BRAID_SOCKET_IFNAME' >"$WORK/out" 2>"$WORK/err" || RC=$?
  if ((RC == 0)) && grep -qx '\[0\] 127.0.0.1:29517 eth7' "$WORK/out" &&
    grep -qx '\[1\] 127.0.0.1:29517 eth7' "$WORK/out"; then
    pass "$name"
  else
    fail "$name" "exit status $RC"
  fi
}

test_stderr_and_partial_lines() {
  local name="stderr lines tagged to stderr, unterminated last line flushed"
  launch -n 2 --tag-output sh -c 'echo "out $RANK"; echo "err $RANK" >&2; printf "tail $RANK"'
  if ((RC == 0)) &&
    grep -qx '\[0\] out 0' "$WORK/out" && grep -qx '\[1\] out 1' "$WORK/out" &&
    grep -qx '\[0\] err 0' "$WORK/err" && grep -qx '\[1\] err 1' "$WORK/err" &&
    grep -qx '\[0\] tail 0' "$WORK/out" && grep -qx '\[1\] tail 1' "$WORK/out" &&
    ! grep -q err "$WORK/out"; then
    pass "$name"
  else
    fail "$name" "exit status $RC"
  fi
}

test_untagged_output_inherited() {
  local name="without --tag-output ranks write straight to braidrun's stdout"
  launch -n 3 sh -c 'echo "plain $RANK"'
  if ((RC == 0)) && [[ $(grep -c '^plain [0-2]$' "$WORK/out") -eq 3 ]]; then
    pass "$name"
  else
    fail "$name" "exit status $RC"
  fi
}

test_failing_rank_stops_job() {
  local name="rank 2 exiting 3 ends the job quickly with status 3, sleepers gone"
  local dir=$WORK/pids
  mkdir -p "$dir"
  # Sleepers run sleep as a child of sh, so this also checks that a rank's children are
  # stopped, not just the rank. Rank 2 waits until the sleepers are up before failing.
  PID_DIR=$dir launch -n 4 sh -c '
    if [ "$RANK" = 2 ]; then
      i=0
      while [ "$(ls "$PID_DIR" | wc -l)" -lt 3 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
      exit 3
    fi
    sleep 30 &
    echo $! > "$PID_DIR/$RANK"
    wait'
  if ((RC != 3)); then
    fail "$name" "exit status $RC, expected 3"
  elif ((ELAPSED_MS >= 5000)); then
    fail "$name" "took ${ELAPSED_MS} ms, expected < 5000"
  elif ! grep -q 'braidrun: rank 2 exited with status 3' "$WORK/err"; then
    fail "$name" "missing 'rank 2 exited with status 3' message"
  elif [[ $(find "$dir" -type f | wc -l) -ne 3 ]]; then
    fail "$name" "expected 3 sleeper pid files"
  elif ! pids_gone "$dir"/*; then
    fail "$name" "sleepers still alive"
  else
    pass "$name"
  fi
}

test_killed_rank() {
  local name="rank killed by SIGKILL gives 137"
  launch -n 3 sh -c 'if [ "$RANK" = 1 ]; then kill -KILL $$; fi; exec sleep 30'
  if ((RC == 137)) && ((ELAPSED_MS < 5000)) &&
    grep -q 'braidrun: rank 1 killed by signal SIGKILL' "$WORK/err"; then
    pass "$name"
  else
    fail "$name" "exit status $RC after ${ELAPSED_MS} ms, expected 137"
  fi
}

test_timeout() {
  local name="--timeout 1 on sleepers gives 124"
  launch -n 2 --timeout 1 sleep 30
  if ((RC == 124)) && ((ELAPSED_MS < 5000)) &&
    grep -q 'braidrun: timeout after 1 s' "$WORK/err"; then
    pass "$name"
  else
    fail "$name" "exit status $RC after ${ELAPSED_MS} ms, expected 124"
  fi
}

test_sigterm_escalates_to_sigkill() {
  local name="ranks ignoring SIGTERM are SIGKILLed after the grace period"
  launch -n 2 --timeout 0.5 sh -c 'trap "" TERM; if [ "$RANK" = 0 ]; then exit 0; fi; sleep 30'
  if ((RC == 124)) && ((ELAPSED_MS >= 3000)) && ((ELAPSED_MS < 8000)); then
    pass "$name"
  else
    fail "$name" "exit status $RC after ${ELAPSED_MS} ms, expected 124 after ~3.5 s"
  fi
}

test_signal_forwarding() {
  local name="SIGTERM to braidrun reaches the ranks"
  local start pid
  start=$(now_us)
  "$BRAIDRUN" -n 3 sleep 30 >"$WORK/out" 2>"$WORK/err" </dev/null &
  pid=$!
  sleep 0.5
  kill -TERM "$pid"
  RC=0
  wait "$pid" || RC=$?
  ELAPSED_MS=$((($(now_us) - start) / 1000))
  if ((RC == 143)) && ((ELAPSED_MS < 5000)); then
    pass "$name"
  else
    fail "$name" "exit status $RC after ${ELAPSED_MS} ms, expected 143"
  fi
}

test_all_succeed() {
  local name="all ranks exiting 0 gives 0"
  launch -n 8 true
  if ((RC == 0)); then pass "$name"; else fail "$name" "exit status $RC"; fi
}

test_bad_arguments() {
  local args
  local -a cases=(
    ""
    "true"
    "-n"
    "-n 0 true"
    "-n -2 true"
    "-n abc true"
    "-n 3x true"
    "-n 4097 true"
    "-n 2"
    "-n 2 --"
    "-n 2 --bogus true"
    "-n 2 --timeout 0 true"
    "-n 2 --timeout soon true"
    "-n 2 --port 70000 true"
    "-n 2 --bind-to socket true"
  )
  for args in "${cases[@]}"; do
    # shellcheck disable=SC2086  # word splitting of the case is the point
    launch $args
    if ((RC == 2)) && grep -q '^braidrun: ' "$WORK/err"; then
      pass "bad arguments '$args' give 2"
    else
      fail "bad arguments '$args' give 2" "exit status $RC"
    fi
  done
  launch --help
  if ((RC == 0)) && grep -q '^usage: braidrun' "$WORK/out"; then
    pass "--help prints usage and exits 0"
  else
    fail "--help prints usage and exits 0" "exit status $RC"
  fi
}

# The CPUs a rank may run on, as the kernel lists them (e.g. "0-1", "3").
allowed_cpus='sed -n "s/^Cpus_allowed_list:[[:space:]]*//p" /proc/self/status'

test_binding() {
  local name="--bind-to core gives each rank its own CPU; none and too many ranks leave them free"
  local mine cpus count
  mine=$(sh -c "$allowed_cpus")
  count=$(nproc)
  launch -n "$count" --tag-output --bind-to core sh -c "$allowed_cpus"
  cpus=$(sed 's/^\[[0-9]*\] //' "$WORK/out" | sort -u)
  if ((RC != 0)) || [[ $(wc -l <<<"$cpus") -ne $count ]] || grep -q '[-,]' <<<"$cpus"; then
    fail "$name" "--bind-to core with $count ranks: exit $RC, CPUs '$cpus'"
    return
  fi
  launch -n "$count" --tag-output sh -c "$allowed_cpus"
  if ((RC != 0)) || [[ $(sed 's/^\[[0-9]*\] //' "$WORK/out" | sort -u) != "$cpus" ]]; then
    fail "$name" "the default with $count ranks did not bind as --bind-to core does"
    return
  fi
  for args in "--bind-to none -n $count" "-n $((count + 1))"; do
    # shellcheck disable=SC2086  # word splitting of the case is the point
    launch $args --tag-output sh -c "$allowed_cpus"
    if ((RC != 0)) || [[ $(sed 's/^\[[0-9]*\] //' "$WORK/out" | sort -u) != "$mine" ]]; then
      fail "$name" "'$args': exit $RC, expected every rank on '$mine'"
      return
    fi
  done
  pass "$name"
}

test_missing_program() {
  local name="missing program fails with a clear message"
  launch -n 2 --tag-output braidrun-no-such-program-xyz
  if ((RC == 127)) &&
    grep -qx "braidrun: cannot run 'braidrun-no-such-program-xyz': No such file or directory" \
      "$WORK/err"; then
    pass "$name"
  else
    fail "$name" "exit status $RC, expected 127"
  fi
}

test_environment_and_tags
test_port_and_ifname_override
test_stderr_and_partial_lines
test_untagged_output_inherited
test_failing_rank_stops_job
test_killed_rank
test_timeout
test_sigterm_escalates_to_sigkill
test_signal_forwarding
test_all_succeed
test_bad_arguments
test_binding
test_missing_program

echo "$passed passed, $failed failed"
((failed == 0))
