#!/usr/bin/env bash
# etcd-diff.sh OLD NEW: compare the parts of two etcd releases that define
# the peer protocol rafthttp reimplements, using the Go module cache (the
# module proxy fills it; nothing else is fetched). Prints one line per
# directory, "same" or "CHANGED", then the diffs of the changed ones.
# Exit status: 0 if every directory is the same, 1 if any changed, 2 on error.
# See docs/upstream.md for what to do with the result.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 OLD NEW   (e.g. v3.7.3 v3.7.4)" >&2; exit 2; }
old=$1 new=$2

# module and directory inside it, one pair a line.
dirs='
server etcdserver/api/rafthttp
server etcdserver/api/snap
server etcdserver/api/etcdhttp
server etcdserver/api/v2stats
api version
client/pkg types
client/pkg transport
pkg pbutil
pkg ioutil
pkg httputil
'

# moddir MODULE VERSION prints where the module cache holds that version.
moddir() {
	(cd / && go mod download -json "go.etcd.io/etcd/$1/v3@$2") |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p'
}

changed=()
while read -r mod dir; do
	[ -n "$mod" ] || continue
	# A failed download must exit 2, not set -e's 1, which means "changed".
	a=$(moddir "$mod" "$old") || { echo "cannot download $mod $old" >&2; exit 2; }
	b=$(moddir "$mod" "$new") || { echo "cannot download $mod $new" >&2; exit 2; }
	a=$a/$dir b=$b/$dir
	[ -d "$a" ] && [ -d "$b" ] || { echo "missing: $a or $b" >&2; exit 2; }
	if diff -rq "$a" "$b" >/dev/null; then
		printf 'same     %s/v3 %s\n' "$mod" "$dir"
	else
		printf 'CHANGED  %s/v3 %s\n' "$mod" "$dir"
		changed+=("$a" "$b")
	fi
done <<<"$dirs"

for ((i = 0; i < ${#changed[@]}; i += 2)); do
	echo
	diff -ru "${changed[i]}" "${changed[i+1]}" || true
done
[ ${#changed[@]} -eq 0 ]
