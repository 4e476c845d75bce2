-- The text a delivery was first sent with: every retry sends exactly the same text, so that
-- Mastodon's late reconcile finds the post and X recognises its own duplicate.
ALTER TABLE delivery ADD COLUMN text TEXT;
