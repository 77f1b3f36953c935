// Package crashtest holds the inspector's crash tests. In the first, a child
// `asana-webhooks inspect` process is killed with SIGKILL again and again
// while the emulator delivers thousands of events to it, and restarted on
// the same database file: every acknowledged event must be stored exactly
// once, every event must arrive in the end, and every stored delivery must
// reach the app the child forwards to. In the second, two `inspect --replica`
// processes share a PostgreSQL database, and the one that manages the webhook
// is killed: the other must take the same webhook over. The package has no
// code of its own; everything is in its tests.
package crashtest
