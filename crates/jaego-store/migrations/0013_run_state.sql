-- An allocation run may run in the background (`POST /allocation-runs` with
-- `"background": true` answers 202 at once), so a stored run says where it
-- is: `running` while its chunks commit (each chunk also bumps the counters
-- and `finished_at`, which is the run's heartbeat), `completed`, or `failed`
-- with the error. Runs stored before this migration all completed.
ALTER TABLE allocation_runs ADD COLUMN state TEXT NOT NULL DEFAULT 'completed'
    CHECK (state IN ('running', 'completed', 'failed'));
ALTER TABLE allocation_runs ADD COLUMN error TEXT;
