-- The gateway (inspect --forward-to): each app deliveries are forwarded to,
-- the secret its handshake settled (byte for byte), and the id of the last
-- delivery forwarded or given up on.
CREATE TABLE forward_targets (
	url        text PRIMARY KEY,
	secret     bytea NOT NULL,
	cursor     bigint NOT NULL,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL
);
