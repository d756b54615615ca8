-- Why a visit was cancelled or missed: required for a cancellation (the
-- record says why a planned visit did not happen), optional for a no-show.
ALTER TABLE encounters ADD COLUMN status_reason TEXT;
