-- Times are timestamptz (microseconds, UTC); NULL is the zero time.

CREATE TABLE runs (
	id         text PRIMARY KEY,
	started_at timestamptz NOT NULL,
	ended_at   timestamptz,
	public_url text NOT NULL
);

CREATE TABLE hooks (
	id                text PRIMARY KEY,
	webhook_gid       text UNIQUE,
	resource_gid      text NOT NULL,
	resource_type     text NOT NULL DEFAULT '',
	resource_name     text NOT NULL DEFAULT '',
	workspace_gid     text NOT NULL DEFAULT '',
	target            text NOT NULL,
	filters           text NOT NULL DEFAULT '[]',
	state             text NOT NULL CHECK (state IN ('pending', 'active', 'deleted', 'failed')),
	note              text NOT NULL DEFAULT '',
	run_id            text NOT NULL REFERENCES runs (id),
	last_run_id       text NOT NULL REFERENCES runs (id),
	keep              boolean NOT NULL DEFAULT false,
	-- The handshake secret, byte for byte (bytea: a secret need not be
	-- valid UTF-8); NULL until a handshake arrives. It leaves the store only
	-- through Store.Secret.
	secret            bytea,
	secret_at         timestamptz,
	created_at        timestamptz NOT NULL,
	updated_at        timestamptz NOT NULL,
	last_heartbeat_at timestamptz
);
CREATE INDEX hooks_resource ON hooks (resource_gid);

CREATE TABLE deliveries (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	hook_id     text NOT NULL REFERENCES hooks (id),
	received_at timestamptz NOT NULL,
	request_id  text NOT NULL DEFAULT '',
	remote_addr text NOT NULL DEFAULT '',
	query       text NOT NULL DEFAULT '',
	headers     text NOT NULL,
	body        bytea NOT NULL,
	kind        text NOT NULL CHECK (kind IN ('events', 'heartbeat', 'malformed')),
	problem     text NOT NULL DEFAULT '',
	event_count integer NOT NULL
);
CREATE INDEX deliveries_hook_received ON deliveries (hook_id, received_at);

-- One row per distinct event per hook; receipts counts its deliveries.
CREATE TABLE events (
	id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	hook_id           text NOT NULL REFERENCES hooks (id),
	event_key         text NOT NULL,
	raw               bytea NOT NULL,
	action            text NOT NULL DEFAULT '',
	resource_gid      text NOT NULL DEFAULT '',
	resource_type     text NOT NULL DEFAULT '',
	first_seen_at     timestamptz NOT NULL,
	last_seen_at      timestamptz NOT NULL,
	receipts          integer NOT NULL,
	first_delivery_id bigint NOT NULL REFERENCES deliveries (id),
	UNIQUE (hook_id, event_key)
);

-- Every receipt of an event: which delivery carried it, where, and whether it
-- was new then.
CREATE TABLE delivery_events (
	delivery_id bigint NOT NULL REFERENCES deliveries (id),
	position    integer NOT NULL,
	event_id    bigint NOT NULL REFERENCES events (id),
	new         boolean NOT NULL,
	PRIMARY KEY (delivery_id, position)
);
