-- Items a person sent to adjudication (`concord adjudication flag`), as opposed to items the
-- overlap policy sent there: consensus runs decide the latter again, never the former.
ALTER TABLE item_state ADD COLUMN flagged INTEGER NOT NULL DEFAULT 0;
