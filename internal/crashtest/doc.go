// Package crashtest holds the inspector's crash test: a child `asana-webhooks
// inspect` process is killed with SIGKILL again and again while the emulator
// delivers thousands of events to it, and restarted on the same database
// file. The test checks that every acknowledged event is stored exactly once
// and that every event arrives in the end. The package has no code of its
// own; everything is in its test.
package crashtest
