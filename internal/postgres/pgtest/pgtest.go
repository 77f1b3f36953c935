// Package pgtest gives tests a PostgreSQL schema of their own: the database
// named by $ASANA_WEBHOOKS_TEST_POSTGRES (`make test` sets it and starts a
// local PostgreSQL when none runs), a fresh schema in it, dropped at the
// test's cleanup. An unreachable database fails the test; it never skips.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Env names the test database's URL; DefaultURL is used when it is unset.
const (
	Env        = "ASANA_WEBHOOKS_TEST_POSTGRES"
	DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

// URL returns the test database's URL after checking that it answers; if it
// does not, the test fails with a message saying how to start it.
func URL(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(Env)
	if dsn == "" {
		dsn = DefaultURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("PostgreSQL at %s is unreachable: %v\n"+
			"Run `make test` (it starts a local PostgreSQL with a \"test\" database), or start one and set %s.",
			redact(dsn), err, Env)
	}
	_ = conn.Close(ctx)
	return dsn
}

// Schema creates an empty schema named aw_test_<random> in the test
// database, drops it (CASCADE) at the test's cleanup, and returns the
// database's URL with search_path set to it: tests running in parallel, or
// again, never see each other's tables.
func Schema(t testing.TB) string {
	t.Helper()
	dsn := URL(t)
	var b [8]byte
	_, _ = rand.Read(b[:])
	schema := "aw_test_" + hex.EncodeToString(b[:])
	if err := exec(dsn, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := exec(dsn, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Error(err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse %s: %v", Env, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// exec runs one statement on its own connection.
func exec(dsn, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

// redact hides the password of dsn.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable URL)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}
