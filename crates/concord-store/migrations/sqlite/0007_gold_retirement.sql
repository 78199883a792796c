-- Gold items taken out of service (`concord gold retire`, or automatically once answered by the
-- project's `retire_gold_after` annotators): never leased again, their answers kept.
ALTER TABLE item_state ADD COLUMN retired INTEGER NOT NULL DEFAULT 0;
