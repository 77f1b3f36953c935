-- The unique key of events leads with the event's own created_at (as sent,
-- decoded; '' when absent or not a short string), which, like event_key, is a
-- function of the event's canonical form: the key still means "this event,
-- once per hook". New events come in created_at order, so each commit now
-- appends to one end of the index instead of dirtying a random page of it per
-- event (event_key is a hash), which cost the single writer a WAL frame per
-- event.
--
-- SQLite cannot change a table's constraint in place: the table is rebuilt
-- (the runner turns foreign keys off around migrations and checks them before
-- each commit). created_at is read from the stored events as the receiver
-- reads it (inspector.IncomingEvent.CreatedAt; json_extract decodes it alike),
-- so a redelivery of an event stored before this migration is still found.

CREATE TABLE events_new (
	id                INTEGER PRIMARY KEY,
	hook_id           TEXT NOT NULL REFERENCES hooks (id),
	event_created_at  TEXT NOT NULL DEFAULT '',
	event_key         TEXT NOT NULL,
	raw               BLOB NOT NULL,
	action            TEXT NOT NULL DEFAULT '',
	resource_gid      TEXT NOT NULL DEFAULT '',
	resource_type     TEXT NOT NULL DEFAULT '',
	first_seen_at     INTEGER NOT NULL,
	last_seen_at      INTEGER NOT NULL,
	receipts          INTEGER NOT NULL,
	first_delivery_id INTEGER NOT NULL REFERENCES deliveries (id),
	UNIQUE (hook_id, event_created_at, event_key)
);

INSERT INTO events_new (id, hook_id, event_created_at, event_key, raw, action, resource_gid, resource_type,
		first_seen_at, last_seen_at, receipts, first_delivery_id)
	SELECT id, hook_id,
		CASE WHEN json_valid(raw) AND json_type(raw, '$.created_at') = 'text'
				AND length(CAST(json_extract(raw, '$.created_at') AS BLOB)) <= 64
			THEN json_extract(raw, '$.created_at') ELSE '' END,
		event_key, raw, action, resource_gid, resource_type, first_seen_at, last_seen_at, receipts, first_delivery_id
	FROM events;

DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
