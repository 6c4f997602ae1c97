-- The softview toolkit, revision 4: everything that turns a table with `deleted_at` into an
-- `active_<table>` view. Install it from a migration of your own (`softview toolkit`), upgrade
-- it with the script `softview toolkit --upgrade-from N` prints.
--
-- Schema `softview` holds the public API and nothing else; helpers, trigger functions and the
-- catalog live in `softview_internal` and may change between revisions.
--
-- Public API (tests/integration/toolkit.rs keeps this list equal to what the schema holds):
--   softview.version()                    the toolkit revision installed
--   softview.enable(table)                table with deleted_at: view, delete trigger, catalog row
--   softview.enable_dependent(table)      table without deleted_at whose rows hide with their parents
--   softview.refresh(table)               re-create a view (and the views built on it) after ALTER TABLE
--   softview.refresh_all()                the same for every enabled table, parents first
--   softview.drop_views(table)            drop a view and the views built on it, before DROP/ALTER COLUMN
--   softview.disable(table)               drop the view and forget the table
--   softview.forget_dropped_tables()      forget enabled tables that were dropped
--   softview.enabled_tables               view: the enabled tables, their views, keys and kinds
--   softview.require_actor(table, on)     hard deletes of the table fail unless softview.actor is set
--   softview.set_event_keys(table, on)    whether the table's events carry row keys
--   softview.event_rows(table, xid)       what a transaction did to the table's rows, for key-less events
--   softview.set_hide_descendants(table, on)  whether a self-referencing table's view hides subtrees
--   softview.deleted_records              table: the archive of hard-deleted rows, with who and why,
--                                         partitioned by the time they were archived
--   softview.changed_references           table: references ON DELETE SET NULL/DEFAULT changed, for undo
--   softview.archive_drift(id)            why an archived row no longer fits its table
--   softview.restore_archived(id)         put an archived row back into its table
--   softview.restore_transaction(xid)     put back every row one transaction deleted, parents first
--   softview.prune_archive(age)           forget archived rows older than age, dropping whole partitions
--   softview.archive_partitions           view: the archive's partitions and the time each takes rows for
--   softview.add_archive_partitions()     create the partitions for the coming week (each purge pass does)
--   softview.set_archive_partition_width(width)  'day', 'week' (to begin with) or 'month' per new partition
--   softview.grace_period(table)          how long deleted rows wait before a purge
--   softview.set_grace_period(table, interval)   the same, per table; NULL for the default
--   softview.set_default_grace_period(interval)  the default (30 days to begin with)
--   softview.purge_batch(table, n)        hard-delete up to n rows whose grace period is over
--   softview.purgeable(table)             how many rows a purge would remove now
--   softview.purgeable_cascades(table)    and how many rows of other tables cascades take with them
--   softview.wake_worker()                start a waiting `softview worker` pass now
--   softview.purge_due(n)                 procedure: one purge pass of every table, a commit per batch
--   softview.schedule_purge(cron, n)      schedule that pass with pg_cron, as the calling role
--   softview.unschedule_purge()           remove that schedule
--   softview.soft_delete_row(table, key)  the lifecycle by text key, for psql and the command line
--   softview.restore_row(table, key)
--   softview.hard_delete_row(table, key)
--   softview.hidden_by(table, key)        the parent row that keeps a row out of its view
--   softview.trash(table)                 deleted rows, newest first, with their purge time
--   softview.browse(table, shown, after, n)   a page of stored rows in key order, with their state
--   softview.preview(table, key, action)  what a soft delete, restore or hard delete would do, per table
--   softview.stored_row(table, key)      one stored row, deleted or not
--   softview.index_check(table)           indexes that deleted rows fill or hold keys in
--   softview.online_index_statements(table)   CREATE INDEX CONCURRENTLY for what enable would build
--   softview.partial_unique_statements(table) make unique indexes partial without blocking writers
--
-- Soft deletes, restores, hard deletes and purges are announced with NOTIFY on channel
-- `softview`, as JSON: {"table": …, "key": {…}, "operation": …, "at": …, "transaction": …};
-- "key" is null when it is longer than 7000 bytes (NOTIFY takes less than 8000) or the table's
-- events leave keys out. A statement that hard-deletes more rows of a table than the setting
-- softview.max_row_events (100 unless set) sends instead one event per operation with a null
-- key and "rows": the count; softview.event_rows(table, transaction) lists them. Every role
-- that can connect may LISTEN: events are hints to re-read.
--
-- Every hard delete of a row of an enabled table (DELETE, a foreign-key cascade, a purge) is
-- copied into softview.deleted_records with the transaction-local settings softview.actor and
-- softview.reason (set_config(…, true)); an empty setting counts as unset.
--
-- Errors the toolkit raises have a fixed message prefix followed by the table they are about;
-- the key involved is in DETAIL. `parent row is deleted` uses the SQLSTATE SV001.

DO $$
DECLARE
    installed integer;
BEGIN
    IF current_setting('server_version_num')::int < 150000 THEN
        RAISE EXCEPTION 'softview needs PostgreSQL 15 or later (security_invoker views); this server is %',
            current_setting('server_version');
    END IF;
    IF to_regnamespace('softview') IS NOT NULL THEN
        IF to_regprocedure('softview.version()') IS NOT NULL THEN
            EXECUTE 'SELECT softview.version()' INTO installed;
        END IF;
        RAISE EXCEPTION 'the softview toolkit is already installed (revision %)', coalesce(installed::text, 'unknown')
            USING ERRCODE = 'duplicate_schema',
                  HINT = 'upgrade it with the script `softview toolkit --upgrade-from <revision>` prints';
    END IF;
END
$$;

CREATE SCHEMA softview;
COMMENT ON SCHEMA softview IS 'softview toolkit: the public API (active_* views over soft-deletable tables)';
CREATE SCHEMA softview_internal;
COMMENT ON SCHEMA softview_internal IS 'softview toolkit: helpers, trigger functions and the catalog; not an API';

CREATE FUNCTION softview.version() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT 4 $$;
