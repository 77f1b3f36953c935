-- Shared handshake windows (inspector.SharedWindows): the process creating a
-- webhook opens its hook's window here, so that a replica behind the same
-- public URL accepts the handshake too. NULL: closed.
ALTER TABLE hooks ADD COLUMN handshake_open_until timestamptz;
