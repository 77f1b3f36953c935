-- The gateway (inspect --forward-to): each app deliveries are forwarded to,
-- the secret its handshake settled (byte for byte), and the id of the last
-- delivery forwarded or given up on.
CREATE TABLE forward_targets (
	url        TEXT PRIMARY KEY,
	secret     BLOB NOT NULL,
	cursor     INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
