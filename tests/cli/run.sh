#!/usr/bin/env bash
# CLI tests: every tests/cli/NAME.sql runs through the sqlite3 command-line shell with vindex
# loaded, and its output (stdout and stderr, in order, with each statement echoed) must equal
# tests/cli/NAME.expected byte for byte.
#
#   ./tests/cli/run.sh               run all (from the repo root; `make test-cli` does)
#   ./tests/cli/run.sh knn           run only tests/cli/knn.sql
#   UPDATE=1 ./tests/cli/run.sh      rewrite the .expected files (review the diff before committing)
#
# Adding a test: drop NAME.sql next to this script and generate NAME.expected with UPDATE=1.
# Each file runs in a fresh :memory: database, in a fresh empty working directory (so a test
# may `.open x.db` or ATTACH files freely); errors print "Runtime error near line N: ..." and
# the script goes on. Environment: SQLITE3 (default sqlite3), VINDEX_PATH (default dist/vindex).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cli_dir="$repo_root/tests/cli"
sqlite3_bin="${SQLITE3:-sqlite3}"
ext="${VINDEX_PATH:-$repo_root/dist/vindex}"
ext="${ext%.so}"
case "$ext" in /*) ;; *) ext="$PWD/$ext" ;; esac

if ! command -v "$sqlite3_bin" >/dev/null 2>&1; then
    echo "run.sh: $sqlite3_bin not found (apt-get install sqlite3)" >&2
    exit 1
fi
if [[ ! -f "$ext.so" && ! -f "$ext" ]]; then
    echo "run.sh: vindex extension not found at $ext.so: run 'make loadable' first" >&2
    exit 1
fi
# stdout of a program writing to a pipe is block-buffered while stderr is not; line-buffer both
# so error lines land next to the statement that caused them.
linebuf=()
if command -v stdbuf >/dev/null 2>&1; then linebuf=(stdbuf -oL -eL); fi

if [[ $# -gt 0 ]]; then
    files=()
    for name in "$@"; do files+=("$cli_dir/${name%.sql}.sql"); done
else
    shopt -s nullglob
    files=("$cli_dir"/*.sql)
fi
if [[ ${#files[@]} -eq 0 ]]; then
    echo "run.sh: no .sql files in $cli_dir" >&2
    exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
for sql in "${files[@]}"; do
    name="$(basename "$sql" .sql)"
    expected="$cli_dir/$name.expected"
    actual="$work/$name.actual"
    rundir="$work/$name.d"
    mkdir -p "$rundir"
    status=0
    (cd "$rundir" && "${linebuf[@]}" "$sqlite3_bin" -batch -cmd ".load '$ext'" -cmd ".echo on" :memory: \
        <"$sql" >"$actual" 2>&1) || status=$?
    # The shell exits 1 when a statement failed (the tests expect some to); anything else,
    # e.g. 139 for a segfault, is a failure.
    if [[ $status -gt 1 ]]; then
        echo "FAIL $name: sqlite3 exited with status $status (crash?)"
        tail -n 5 "$actual" | sed 's/^/    /'
        failed=$((failed + 1))
        continue
    fi
    if [[ "${UPDATE:-}" == 1 ]]; then
        cp "$actual" "$expected"
        echo "updated $name.expected"
        passed=$((passed + 1))
    elif [[ ! -f "$expected" ]]; then
        echo "FAIL $name: $name.expected is missing (create it with UPDATE=1 $0 $name)"
        failed=$((failed + 1))
    elif diff -u --label "$name.expected" --label "$name (actual)" "$expected" "$actual"; then
        echo "ok   $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name: output differs from $name.expected (diff above)"
        failed=$((failed + 1))
    fi
done

echo "cli: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
