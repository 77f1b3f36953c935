#!/bin/sh
# gen-vectors.sh regenerates signatures.json: X-Hook-Signature test vectors
# computed by OpenSSL, independently of the Go code under test.
#
#   cd asana/testdata && ./gen-vectors.sh > signatures.json
#
# Each vector holds the secret, the body as hex (so binary bodies survive
# JSON) and the lowercase hex HMAC-SHA256 from `openssl dgst -sha256 -hmac`.
set -eu

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

first=1
echo '['
# vector NAME SECRET: the body is read from $tmp.
vector() {
	sig=$(openssl dgst -sha256 -hmac "$2" <"$tmp" | awk '{print $NF}')
	hex=$(od -An -v -tx1 <"$tmp" | tr -d ' \n')
	[ "$first" = 1 ] || echo ','
	first=0
	jq -n -c --arg name "$1" --arg secret "$2" --arg body_hex "$hex" --arg signature "$sig" \
		'{name: $name, secret: $secret, body_hex: $body_hex, signature: $signature}' | tr -d '\n'
}

S64=3b9d7a1c0e2f4a6b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d
S32=8f14e45fceea167a5a36dedd4bea2543

: >"$tmp"
vector "empty body" "$S64"

printf '{"events":[]}' >"$tmp"
vector "heartbeat" "$S32"

printf 'Größe ✓ 日本語 🚀 "quotes" \\u00e9' >"$tmp"
vector "unicode body" "$S64"

printf '%s' '{"events":[{"user":{"gid":"1201234567890123","resource_type":"user"},"created_at":"2026-03-01T10:15:42.123Z","action":"changed","resource":{"gid":"1207749977080033","resource_type":"task","resource_subtype":"default_task"},"parent":null,"change":{"field":"due_on","action":"changed"}},{"user":{"gid":"1201234567890123","resource_type":"user"},"created_at":"2026-03-01T10:15:43.001Z","action":"added","resource":{"gid":"1207749977080099","resource_type":"story","resource_subtype":"comment_added"},"parent":{"gid":"1207749977080033","resource_type":"task","resource_subtype":"default_task"}}]}' >"$tmp"
vector "events body" "$S64"

printf '\000\001\002\377\376\r\n\t\177\200 {"events":[]}\000' >"$tmp"
vector "binary-ish body" "$S32"

printf '{"events":[]}\n' >"$tmp"
vector "trailing newline changes the signature" "$S32"

head -c 10000 /dev/zero | tr '\0' 'a' >"$tmp"
vector "long body, key longer than the hash block" "k-$S64-$S64"

printf 'x' >"$tmp"
vector "unicode secret" "clé-secrète-ü"
echo
echo ']'
