-- The idempotency key a delivery is sent with, kept from its first attempt like its text, so
-- every retry (after a restart or an upgrade too) sends the same key. New keys are random: a
-- copied or restored database, whose delivery ids go on from the same number, does not send
-- the keys of the one it came from.
ALTER TABLE delivery ADD COLUMN idempotency_key TEXT;
-- deliveries already attempted keep the key they were sent with before this version
UPDATE delivery SET idempotency_key = 'statusbot:' || id WHERE attempts > 0;
