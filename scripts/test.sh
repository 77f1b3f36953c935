#!/usr/bin/env bash
# Prepare what the tests need on a Debian machine, then run every test.
#
# Run as root on a fresh machine, it installs and starts what is missing:
# Chromium (UI tests), the pinned npm packages of every package-lock.json,
# a PostgreSQL reachable on 127.0.0.1:5432 with a "test" database, and a C
# compiler for the race detector. When everything is present it only checks,
# so it is fast to run again. Then: gofmt, go vet, go test -race.
#
# ASANA_WEBHOOKS_TEST_POSTGRES, when set, names the PostgreSQL to test against
# and the local one is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

section() { printf '\n== %s\n' "$*"; }
die() { printf 'test.sh: %s\n' "$*" >&2; exit 1; }

apt_updated=0
apt_install() {
	[ "$(id -u)" -eq 0 ] || die "missing $*: run as root to install it, or install it yourself"
	if [ "$apt_updated" -eq 0 ]; then
		apt-get update -qq
		apt_updated=1
	fi
	apt-get install -y -qq "$@" >/dev/null
}

section "toolchain"
command -v go >/dev/null || die "Go is not installed (see go.mod for the version)"
go version
if ! command -v gcc >/dev/null; then
	echo "installing gcc (the race detector needs cgo)"
	apt_install gcc libc6-dev
fi

section "chromium"
if [ -x /usr/bin/chromium ]; then
	echo "present: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
else
	echo "installing chromium"
	apt_install chromium
fi

section "npm packages"
if ! command -v npm >/dev/null; then
	echo "installing nodejs and npm"
	apt_install nodejs npm
fi
found=0
while IFS= read -r -d '' lock; do
	found=1
	dir=$(dirname "$lock")
	if [ ! -d "$dir/node_modules" ] || [ "$lock" -nt "$dir/node_modules" ]; then
		echo "npm ci in $dir"
		(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
		touch "$dir/node_modules"
	else
		echo "up to date: $dir"
	fi
done < <(find . -path ./.git -prune -o -name node_modules -prune -o -name package-lock.json -print0)
[ "$found" -eq 1 ] || echo "no package-lock.json"

section "postgresql"
if [ -n "${ASANA_WEBHOOKS_TEST_POSTGRES:-}" ]; then
	echo "using ASANA_WEBHOOKS_TEST_POSTGRES as set"
else
	pg_admin="postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	if ! { command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; }; then
		if ! ls -d /etc/postgresql/*/main >/dev/null 2>&1; then
			echo "installing postgresql"
			apt_install postgresql
		fi
		version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
		echo "starting the PostgreSQL $version cluster"
		pg_ctlcluster --skip-systemctl-redirect "$version" main start
		for _ in $(seq 60); do
			pg_isready -q -h 127.0.0.1 -p 5432 && break
			sleep 1
		done
		pg_isready -q -h 127.0.0.1 -p 5432 || die "PostgreSQL did not become ready on 127.0.0.1:5432"
	fi
	command -v psql >/dev/null || apt_install postgresql-client
	if ! psql "$pg_admin" -Atqc 'select 1' >/dev/null 2>&1; then
		# A fresh Debian cluster wants a password on TCP; the tests connect
		# as postgres without one, from loopback only.
		version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
		hba=/etc/postgresql/$version/main/pg_hba.conf
		[ -w "$hba" ] || die "cannot connect to $pg_admin and cannot edit $hba; set ASANA_WEBHOOKS_TEST_POSTGRES"
		echo "allowing user postgres from 127.0.0.1 without a password ($hba)"
		sed -i '1i host all postgres 127.0.0.1/32 trust # added by asana-webhooks scripts/test.sh' "$hba"
		pg_ctlcluster --skip-systemctl-redirect "$version" main reload
		for _ in $(seq 10); do
			psql "$pg_admin" -Atqc 'select 1' >/dev/null 2>&1 && break
			sleep 1
		done
		psql "$pg_admin" -Atqc 'select 1' >/dev/null || die "cannot connect to $pg_admin"
	fi
	if [ "$(psql "$pg_admin" -Atqc "select count(*) from pg_database where datname = 'test'")" != "1" ]; then
		echo "creating database test"
		psql "$pg_admin" -qc 'create database test' >/dev/null
	fi
	export ASANA_WEBHOOKS_TEST_POSTGRES="postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	echo "ready: $ASANA_WEBHOOKS_TEST_POSTGRES"
fi

section "gofmt"
unformatted=$(find . -path ./.git -prune -o -name node_modules -prune -o -name testdata -prune -o -name '*.go' -print0 | xargs -0 -r gofmt -l)
if [ -n "$unformatted" ]; then
	printf 'not gofmt-ed:\n%s\n' "$unformatted" >&2
	exit 1
fi
echo "ok"

section "go vet"
go vet ./...
echo "ok"

section "go test -race"
go test -race -count=1 -timeout 20m ./...

section "go test -fuzz (a short run of every fuzz target)"
# A counted run (-fuzztime Nx) of each target beyond its seed corpus, which
# the tests above already ran. A failing input is written under the package's
# testdata/fuzz/ and fails the run.
grep -rl --include='*_test.go' '^func Fuzz' . | grep -v node_modules | sort | while read -r file; do
	pkg="./$(dirname "${file#./}")"
	for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file"); do
		echo "$target in $pkg"
		if ! out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime 3000x "$pkg" 2>&1); then
			printf '%s\n' "$out" >&2
			exit 1
		fi
	done
done
echo "ok"
