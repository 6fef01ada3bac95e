ALTER TABLE events ADD COLUMN amount_cents UInt64 DEFAULT toUInt64(round(amount * 100));
DROP TABLE event_types;
