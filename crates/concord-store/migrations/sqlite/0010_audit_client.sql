-- Which program wrote each event (21 CFR 11.10(e): the audit trail names the application and
-- its version): `concord 0.1.0 serve`. Events written before this migration have none; an
-- event with a client is hashed under the `concord-audit-v2` encoding, which covers it.
ALTER TABLE audit_events ADD COLUMN client TEXT;
