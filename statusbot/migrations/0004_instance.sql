-- A random id of this database, part of every idempotency key ("statusbot:<instance>:<delivery>").
-- Delivery ids start at 1 in every database: without it, a reinstalled statusbot or a staging
-- copy posting to the same Mastodon account within the server's hour would send a key the server
-- already knows, and get the old post back instead of a new one.
INSERT OR IGNORE INTO meta (name, value) VALUES ('instance', random() & 281474976710655);
