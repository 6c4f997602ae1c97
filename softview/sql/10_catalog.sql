-- The catalog (one row per enabled table, the settings) and the archive of hard deletes.

-- One row per enabled table. A table's view filters on the parents placed before it in
-- `position`, which keeps view dependencies acyclic; softview_internal.sort_tables sets it.
CREATE TABLE softview_internal.tables (
    relation regclass PRIMARY KEY,
    enable_order bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    soft_deletable boolean NOT NULL,
    saved_view_acl aclitem[],
    require_actor boolean NOT NULL DEFAULT false,
    grace_period interval CHECK (grace_period >= interval '0'),
    enabled_at timestamptz NOT NULL DEFAULT now(),
    position bigint NOT NULL,
    event_keys boolean NOT NULL DEFAULT true,
    hide_descendants boolean NOT NULL DEFAULT true,
    key_columns name[] NOT NULL DEFAULT '{}'
);
COMMENT ON COLUMN softview_internal.tables.key_columns IS 'the primary key''s columns as of the last enable or refresh, which the archive trigger reads on every statement';
COMMENT ON COLUMN softview_internal.tables.hide_descendants IS 'for a table that refers to itself: its view hides the descendants of hidden rows';
COMMENT ON COLUMN softview_internal.tables.event_keys IS 'events carry the keys of the rows; false: only the table, operation and transaction';
COMMENT ON COLUMN softview_internal.tables.enable_order IS 'the order tables were enabled in; it breaks foreign-key cycles';
COMMENT ON COLUMN softview_internal.tables.position IS 'parents before children, whatever the enable order; set by sort_tables';
COMMENT ON COLUMN softview_internal.tables.grace_period IS 'how long deleted rows wait before a purge; NULL for the default';
COMMENT ON COLUMN softview_internal.tables.soft_deletable IS 'the table has deleted_at; false for dependents that only hide with their parents';

CREATE TABLE softview_internal.settings (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    default_grace_period interval NOT NULL DEFAULT interval '30 days'
        CHECK (default_grace_period >= interval '0'),
    archive_partition_width text NOT NULL DEFAULT 'week'
        CHECK (archive_partition_width IN ('day', 'week', 'month'))
);
INSERT INTO softview_internal.settings DEFAULT VALUES;
COMMENT ON COLUMN softview_internal.settings.archive_partition_width IS 'the span of time each new partition of the archive holds (UTC days, ISO weeks, months)';
COMMENT ON COLUMN softview_internal.tables.require_actor IS 'hard deletes fail unless softview.actor is set';
COMMENT ON COLUMN softview_internal.tables.saved_view_acl IS 'grants on the view, kept by drop_views so that refresh can restore them';

-- Every hard-deleted row of an enabled table, as JSON, with who deleted it and why. It is
-- partitioned by the time rows were archived, so that forgetting old rows drops whole
-- partitions instead of deleting row by row: softview.add_archive_partitions creates them
-- ahead (the purge does, each pass), and rows that find none land in the default partition.
CREATE TABLE softview.deleted_records (
    id bigint GENERATED ALWAYS AS IDENTITY,
    table_name text NOT NULL,
    primary_key jsonb NOT NULL,
    row_data jsonb NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT now(),
    actor text,
    reason text,
    transaction_id bigint NOT NULL DEFAULT pg_current_xact_id()::text::bigint,
    table_oid oid,
    database_role text,
    session_role text,
    purged boolean NOT NULL DEFAULT false
) PARTITION BY RANGE (archived_at);
CREATE TABLE softview_internal.deleted_records_default PARTITION OF softview.deleted_records DEFAULT;
COMMENT ON COLUMN softview.deleted_records.table_name IS 'schema-qualified, quoted where needed';
COMMENT ON COLUMN softview.deleted_records.transaction_id IS 'rows deleted together (a parent and its cascade) share it';
COMMENT ON COLUMN softview.deleted_records.table_oid IS 'the table the row was deleted from, which the toolkit finds it by; table_name is for people';
COMMENT ON COLUMN softview.deleted_records.actor IS 'softview.actor of the deleting transaction: what the application says, not checked';
COMMENT ON COLUMN softview.deleted_records.database_role IS 'the role the delete ran as (SET ROLE included), recorded by the database; NULL before revision 4';
COMMENT ON COLUMN softview.deleted_records.session_role IS 'the role the deleting session logged in as; NULL before revision 4';
COMMENT ON COLUMN softview.deleted_records.purged IS 'a purge removed the row: it was soft-deleted longer ago than the purge''s age';
-- Rows arrive in id, transaction and time order, so one BRIN index serves every lookup: by
-- entry (a restore), by transaction, by age (a prune within a partition). There is no B-tree:
-- each archived row would update it, which made a bulk hard delete 1.2x slower (ids are unique
-- without it: the identity is GENERATED ALWAYS and only the toolkit's owner writes here).
-- Autovacuum summarizes each range as it fills; a range not summarized yet is read whole by
-- every lookup, so the newest rows are found by time windows (softview::archive::list).
CREATE INDEX deleted_records_id_transaction_archived_at ON softview.deleted_records
    USING brin (id, transaction_id, archived_at) WITH (autosummarize = on);

-- What ON DELETE SET NULL and SET DEFAULT foreign keys changed when rows of enabled tables were
-- hard-deleted: the referencing row and the values its columns held, so that restoring the
-- deleting transaction puts the references back.
CREATE TABLE softview.changed_references (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id bigint NOT NULL DEFAULT pg_current_xact_id()::text::bigint,
    table_oid oid NOT NULL,
    table_name text NOT NULL,
    primary_key jsonb NOT NULL,
    constraint_name text NOT NULL,
    old_values jsonb NOT NULL,
    new_values jsonb NOT NULL,
    database_role text,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON COLUMN softview.changed_references.recorded_at IS 'when the deleting transaction began: the archived_at of its archived rows, which prune_archive forgets with them';
COMMENT ON COLUMN softview.changed_references.old_values IS 'the referencing columns before the delete set them';
COMMENT ON COLUMN softview.changed_references.new_values IS 'what the referential action set them to';
CREATE INDEX changed_references_transaction ON softview.changed_references USING brin (transaction_id)
    WITH (autosummarize = on);

-- The transaction-local settings, empty counting as unset: after set_config(…, true) a later
-- transaction on the same connection reads '' rather than NULL.
CREATE FUNCTION softview_internal.current_actor() RETURNS text
LANGUAGE sql STABLE AS $$ SELECT nullif(current_setting('softview.actor', true), '') $$;

CREATE FUNCTION softview_internal.current_reason() RETURNS text
LANGUAGE sql STABLE AS $$ SELECT nullif(current_setting('softview.reason', true), '') $$;
