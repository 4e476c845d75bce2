-- When a delivery was first tried: Mastodon forgets idempotency keys after an hour, so a
-- retry later than that must first look for the post (DESIGN invariant 2).
ALTER TABLE delivery ADD COLUMN first_attempt_at INTEGER;
-- When an operator acknowledged an automatic incident (channels with require_ack wait for it).
ALTER TABLE incident ADD COLUMN acked_at INTEGER;
