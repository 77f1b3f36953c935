-- Times are Unix microseconds, UTC.

CREATE TABLE runs (
	id         TEXT PRIMARY KEY,
	started_at INTEGER NOT NULL,
	ended_at   INTEGER,
	public_url TEXT NOT NULL
);

CREATE TABLE hooks (
	id                TEXT PRIMARY KEY,
	webhook_gid       TEXT UNIQUE,
	resource_gid      TEXT NOT NULL,
	resource_type     TEXT NOT NULL DEFAULT '',
	resource_name     TEXT NOT NULL DEFAULT '',
	workspace_gid     TEXT NOT NULL DEFAULT '',
	target            TEXT NOT NULL,
	filters           TEXT NOT NULL DEFAULT '[]',
	state             TEXT NOT NULL CHECK (state IN ('pending', 'active', 'deleted', 'failed')),
	note              TEXT NOT NULL DEFAULT '',
	run_id            TEXT NOT NULL REFERENCES runs (id),
	last_run_id       TEXT NOT NULL REFERENCES runs (id),
	keep              INTEGER NOT NULL DEFAULT 0,
	-- The handshake secret, byte for byte; NULL until a handshake arrives.
	secret            BLOB,
	secret_at         INTEGER,
	created_at        INTEGER NOT NULL,
	updated_at        INTEGER NOT NULL,
	last_heartbeat_at INTEGER
);
CREATE INDEX hooks_resource ON hooks (resource_gid);

CREATE TABLE deliveries (
	id              INTEGER PRIMARY KEY, -- no AUTOINCREMENT: rows are never deleted, and it costs a write per insert
	hook_id         TEXT NOT NULL REFERENCES hooks (id),
	received_at     INTEGER NOT NULL,
	request_id      TEXT NOT NULL DEFAULT '',
	remote_addr     TEXT NOT NULL DEFAULT '',
	query           TEXT NOT NULL DEFAULT '',
	headers         TEXT NOT NULL,
	body            BLOB NOT NULL,
	kind            TEXT NOT NULL CHECK (kind IN ('events', 'heartbeat', 'malformed')),
	problem         TEXT NOT NULL DEFAULT '',
	event_count     INTEGER NOT NULL
);
-- The only index of deliveries: every secondary index costs the single
-- writer time on each delivery. Lists read newest first by id.
CREATE INDEX deliveries_hook_received ON deliveries (hook_id, received_at);

-- One row per distinct event per hook; receipts counts its deliveries. No
-- index beyond the unique key, for the same reason as deliveries.
CREATE TABLE events (
	id                INTEGER PRIMARY KEY,
	hook_id           TEXT NOT NULL REFERENCES hooks (id),
	event_key         TEXT NOT NULL,
	raw               BLOB NOT NULL,
	action            TEXT NOT NULL DEFAULT '',
	resource_gid      TEXT NOT NULL DEFAULT '',
	resource_type     TEXT NOT NULL DEFAULT '',
	first_seen_at     INTEGER NOT NULL,
	last_seen_at      INTEGER NOT NULL,
	receipts          INTEGER NOT NULL,
	first_delivery_id INTEGER NOT NULL REFERENCES deliveries (id),
	UNIQUE (hook_id, event_key)
);

-- Every receipt of an event: which delivery carried it, where, and whether it
-- was new then (a delivery's count of new events is summed from here).
CREATE TABLE delivery_events (
	delivery_id INTEGER NOT NULL REFERENCES deliveries (id),
	position    INTEGER NOT NULL,
	event_id    INTEGER NOT NULL REFERENCES events (id),
	new         INTEGER NOT NULL,
	PRIMARY KEY (delivery_id, position)
) WITHOUT ROWID;
