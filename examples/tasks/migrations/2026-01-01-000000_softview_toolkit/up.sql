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

-- Who is calling and what they may do. The functions that write the catalog, the archive or
-- the generated trigger functions run as the toolkit's owner (SECURITY DEFINER) and check the
-- caller's rights here; everything that reads or writes an application's table runs with the
-- caller's own rights, so PostgreSQL's privileges and row-level security apply unchanged.

-- The role the caller acts as: the session's SET ROLE, or the role it logged in as. Inside a
-- SECURITY DEFINER function current_user is the function's owner, and so is useless for this.
-- A call from another SECURITY DEFINER function counts as the session's role.
CREATE FUNCTION softview_internal.caller() RETURNS name
LANGUAGE sql STABLE AS $$
    SELECT CASE current_setting('role') WHEN 'none' THEN session_user ELSE current_setting('role')::name END
$$;

-- Refuses unless the caller owns `rel` or is a member of the role that does: what PostgreSQL
-- asks of ALTER TABLE, and what softview asks of enable, disable and a table's settings.
CREATE FUNCTION softview_internal.require_owner(rel regclass, action text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
    owner_id oid := (SELECT relowner FROM pg_class WHERE oid = rel);
BEGIN
    IF NOT pg_has_role(softview_internal.caller(), owner_id, 'USAGE') THEN
        RAISE EXCEPTION 'permission denied: only the owner of % may %', softview_internal.qualified_name(rel), action
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('%s is owned by %s; the caller is %s.', softview_internal.qualified_name(rel),
                                  quote_ident(pg_get_userbyid(owner_id)), quote_ident(softview_internal.caller())),
                  HINT = format('run it as %s, or as a member of that role', quote_ident(pg_get_userbyid(owner_id)));
    END IF;
END
$$;

-- Whether `reader` may see an archived row of table `table_oid` that `deleted_by` deleted: it may
-- read the whole table (SELECT on the table, not on some of its columns), and where row-level
-- security applies to it there, the row must be one it deleted itself (it could see it then;
-- the policies cannot be asked about a row that is gone). Rows of dropped tables are left to the
-- toolkit's owner, whom row-level security on the archive does not restrict. It looks the
-- table up by OID: a name would need USAGE on its schema just to be read.
CREATE FUNCTION softview_internal.may_read_archived(reader name, table_oid oid, deleted_by text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce((
        SELECT has_table_privilege(reader, c.oid, 'SELECT')
           AND (NOT c.relrowsecurity
                OR (pg_has_role(reader, c.relowner, 'USAGE') AND NOT c.relforcerowsecurity)
                OR (SELECT r.rolbypassrls OR r.rolsuper FROM pg_roles r WHERE r.rolname = reader)
                OR deleted_by = reader)
        FROM pg_class c
        WHERE c.oid = table_oid AND c.relkind IN ('r', 'p')), false)
$$;

-- may_read_archived, decided once per query for every enabled table: `whole`, the tables of
-- which `reader` reads every archived row; `own`, those of which it reads only the rows it
-- deleted itself; `decided`, all of them. Asked row by row, may_read_archived cost a reader
-- who does not own the archive 5.5 µs a row (a count of 100,000 entries: 550 ms, against
-- 13 ms for the owner); the policies below ask it only of rows of tables no longer enabled.
CREATE FUNCTION softview_internal.archive_readability(reader name, OUT whole oid[], OUT own oid[], OUT decided oid[])
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(c.oid) FILTER (WHERE c.readable AND NOT c.only_own), '{}'),
           coalesce(array_agg(c.oid) FILTER (WHERE c.readable AND c.only_own), '{}'),
           coalesce(array_agg(t.relation::oid), '{}')
    FROM softview_internal.tables t
    LEFT JOIN LATERAL (
        SELECT c.oid, has_table_privilege(reader, c.oid, 'SELECT') AS readable,
               c.relrowsecurity
               AND NOT (pg_has_role(reader, c.relowner, 'USAGE') AND NOT c.relforcerowsecurity)
               AND NOT (SELECT r.rolbypassrls OR r.rolsuper FROM pg_roles r WHERE r.rolname = reader) AS only_own
        FROM pg_class c
        WHERE c.oid = t.relation AND c.relkind IN ('r', 'p')) c ON true
$$;

-- Each sub-select is evaluated once per query. (The cast keeps `= ANY` from reading the
-- sub-select as a set of rows to compare with.)
ALTER TABLE softview.changed_references ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON softview.changed_references FOR SELECT USING (
    table_oid = ANY ((SELECT whole FROM softview_internal.archive_readability(current_user))::oid[])
    OR (database_role = current_user
        AND table_oid = ANY ((SELECT own FROM softview_internal.archive_readability(current_user))::oid[]))
    OR (table_oid <> ALL ((SELECT decided FROM softview_internal.archive_readability(current_user))::oid[])
        AND softview_internal.may_read_archived(current_user, table_oid, database_role)));

ALTER TABLE softview.deleted_records ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON softview.deleted_records FOR SELECT USING (
    table_oid = ANY ((SELECT whole FROM softview_internal.archive_readability(current_user))::oid[])
    OR (database_role = current_user
        AND table_oid = ANY ((SELECT own FROM softview_internal.archive_readability(current_user))::oid[]))
    OR (table_oid <> ALL ((SELECT decided FROM softview_internal.archive_readability(current_user))::oid[])
        AND softview_internal.may_read_archived(current_user, table_oid, database_role)));

-- Names, keys and foreign keys of enabled tables, read from the system catalogs.

-- Quoted, schema-qualified names, independent of search_path.
CREATE FUNCTION softview_internal.qualified_name(rel regclass) RETURNS text
LANGUAGE sql STABLE STRICT AS $$
    SELECT format('%I.%I', n.nspname, c.relname)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = rel
$$;

-- A table argument of the public API, which must not be NULL: a STRICT function would return
-- NULL and do nothing, silently.
CREATE FUNCTION softview_internal.checked_table(rel regclass) RETURNS regclass
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF rel IS NULL THEN
        RAISE EXCEPTION 'invalid table: it must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    RETURN rel;
END
$$;

CREATE FUNCTION softview_internal.view_name(rel regclass) RETURNS text
LANGUAGE sql STABLE STRICT AS $$
    SELECT format('%I.%I', n.nspname, 'active_' || c.relname)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = rel
$$;

-- The view softview names for `rel`, if a relation of that name exists, found in the catalogs:
-- to_regclass would need USAGE on the schema, which the toolkit's owner may not have.
CREATE FUNCTION softview_internal.view_of(rel regclass) RETURNS regclass
LANGUAGE sql STABLE STRICT AS $$
    SELECT v.oid::regclass
    FROM pg_class c JOIN pg_class v ON v.relnamespace = c.relnamespace AND v.relname = 'active_' || c.relname
    WHERE c.oid = rel
$$;

-- `base || suffix` when that fits PostgreSQL's 63-byte names; otherwise `base` cut short,
-- then a hash of the whole of it, then `suffix`, so that two long names sharing a prefix never
-- get the same name (PostgreSQL would cut both to one, with only a NOTICE).
CREATE FUNCTION softview_internal.fitted_name(base name, suffix text) RETURNS name
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    hash text := '_' || left(md5(base), 8);
    cut text := base;
BEGIN
    IF octet_length(base || suffix) <= 63 THEN
        RETURN base || suffix;
    END IF;
    WHILE octet_length(cut || hash || suffix) > 63 LOOP
        cut := left(cut, -1);
    END LOOP;
    RETURN cut || hash || suffix;
END
$$;

-- A valid index on `rel` with exactly these key columns and this predicate, whoever made it and
-- whatever its name; NULL when there is none. An index a failed concurrent build left invalid
-- does not count.
CREATE FUNCTION softview_internal.matching_index(rel regclass, key_columns name[], predicate text) RETURNS regclass
LANGUAGE sql STABLE STRICT AS $$
    SELECT i.indexrelid::regclass
    FROM pg_index i
    WHERE i.indrelid = rel AND i.indisvalid AND NOT i.indisunique AND i.indexprs IS NULL
      AND i.indkey::text = (SELECT string_agg(a.attnum::text, ' ' ORDER BY u.n)
                            FROM unnest(key_columns) WITH ORDINALITY AS u(c, n)
                            JOIN pg_attribute a ON a.attrelid = rel AND a.attname = u.c)
      AND pg_get_expr(i.indpred, i.indrelid) = format('(%s)', predicate)
    ORDER BY i.indexrelid
    LIMIT 1
$$;

-- The name softview gives the index it needs on `rel` (see fitted_name).
CREATE FUNCTION softview_internal.index_name(rel regclass, suffix text) RETURNS name
LANGUAGE sql STABLE STRICT AS $$
    SELECT softview_internal.fitted_name(c.relname, suffix) FROM pg_class c WHERE c.oid = rel
$$;

-- Creates a partial index softview needs on `rel`, unless one with these columns and this
-- predicate is there already (see matching_index). It is named after the table with `suffix`; a
-- name another relation holds is refused, not skipped. The comment says why it is there, and
-- marks it for softview.disable to drop; an index built ahead under softview's name (see
-- softview.online_index_statements) gets it too, when the caller owns it.
CREATE FUNCTION softview_internal.ensure_index(rel regclass, key_columns name[], predicate text,
                                               suffix text, purpose text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    index_name name := softview_internal.index_name(rel, suffix);
    schema_name name := (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                         WHERE c.oid = rel);
    column_list text := (SELECT string_agg(quote_ident(c), ', ') FROM unnest(key_columns) AS c);
    matching regclass := softview_internal.matching_index(rel, key_columns, predicate);
    holder regclass;
    holder_is_invalid boolean;
BEGIN
    SELECT c.oid, NOT coalesce(i.indisvalid, true) INTO holder, holder_is_invalid
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_index i ON i.indexrelid = c.oid
    WHERE c.relname = index_name AND n.nspname = schema_name;
    IF matching IS NOT NULL THEN
        IF matching = holder AND obj_description(holder, 'pg_class') IS NULL
           AND pg_has_role((SELECT relowner FROM pg_class WHERE oid = holder), 'USAGE') THEN
            EXECUTE format('COMMENT ON INDEX %I.%I IS %L', schema_name, index_name,
                           format('created by softview: %s; softview.disable drops it', purpose));
        END IF;
        RETURN;
    END IF;
    IF holder_is_invalid THEN
        RAISE EXCEPTION 'cannot enable %: index % is invalid', softview_internal.qualified_name(rel),
                        quote_ident(index_name)
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'a CREATE INDEX CONCURRENTLY that failed or was cancelled leaves its index invalid',
                  HINT = format('DROP INDEX CONCURRENTLY %I.%I; then build it again or let enable build it',
                                schema_name, index_name);
    ELSIF holder IS NOT NULL THEN
        RAISE EXCEPTION 'cannot enable %: the name % is taken by %', softview_internal.qualified_name(rel),
                        quote_ident(index_name), holder
            USING ERRCODE = 'duplicate_table',
                  HINT = format('softview needs an index ON %s (%s) WHERE %s: create it under a name of your own, or rename %s',
                                softview_internal.qualified_name(rel), column_list, predicate, holder);
    END IF;
    EXECUTE format('CREATE INDEX %I ON %s (%s) WHERE %s', index_name,
                   softview_internal.qualified_name(rel), column_list, predicate);
    EXECUTE format('COMMENT ON INDEX %I.%I IS %L', schema_name, index_name,
                   format('created by softview: %s; softview.disable drops it', purpose));
END
$$;

-- The trigger function generated for the view of `rel` (see view_trigger_source).
CREATE FUNCTION softview_internal.trigger_function_name(rel regclass) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT format('softview_internal.%I', 'write_' || rel::oid)
$$;

-- The generated function the triggers of a view call now, if any: it may carry an older name.
CREATE FUNCTION softview_internal.current_trigger_function(view_rel regclass) RETURNS regprocedure
LANGUAGE sql STABLE AS $$
    SELECT t.tgfoid::regprocedure
    FROM pg_trigger t JOIN pg_proc f ON f.oid = t.tgfoid
    WHERE t.tgrelid = view_rel AND t.tgname = 'softview_delete'
      AND f.pronamespace = 'softview_internal'::regnamespace AND f.proname LIKE 'write\_%'
$$;

-- Whether `view_rel` is the view softview made for `rel`: a view on `rel` whose DELETE trigger
-- calls a generated function. A view of the same name made by someone else is not replaced.
CREATE FUNCTION softview_internal.is_view_of(view_rel regclass, rel regclass) RETURNS boolean
LANGUAGE sql STABLE STRICT AS $$
    SELECT (SELECT relkind FROM pg_class WHERE oid = view_rel) = 'v'
       AND softview_internal.current_trigger_function(view_rel) IS NOT NULL
       AND EXISTS (SELECT 1 FROM pg_rewrite r JOIN pg_depend d
                       ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                   WHERE r.ev_class = view_rel AND d.refclassid = 'pg_class'::regclass
                     AND d.refobjid = rel)
$$;

-- Live columns of a relation, in table order.
CREATE FUNCTION softview_internal.columns(rel regclass) RETURNS SETOF name
LANGUAGE sql STABLE STRICT AS $$
    SELECT attname FROM pg_attribute
    WHERE attrelid = rel AND attnum > 0 AND NOT attisdropped
    ORDER BY attnum
$$;

CREATE FUNCTION softview_internal.primary_key(rel regclass) RETURNS name[]
LANGUAGE sql STABLE STRICT AS $$
    SELECT array(
        SELECT a.attname
        FROM pg_index i
        CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = rel AND i.indisprimary
        ORDER BY k.n)
$$;

-- Whether column `attnum` of `rel` may hold NULL: it is not declared NOT NULL, or (PostgreSQL
-- 18) its NOT NULL was added NOT VALID, which sets attnotnull while older rows may be NULL.
CREATE FUNCTION softview_internal.column_may_be_null(rel regclass, attnum smallint) RETURNS boolean
LANGUAGE sql STABLE STRICT AS $$
    SELECT NOT a.attnotnull
           OR EXISTS (SELECT 1 FROM pg_constraint c
                      WHERE c.conrelid = rel AND c.contype = 'n' AND NOT c.convalidated
                        AND c.conkey = ARRAY[column_may_be_null.attnum])
    FROM pg_attribute a
    WHERE a.attrelid = rel AND a.attnum = column_may_be_null.attnum
$$;

-- The foreign keys from `rel` to enabled tables placed before it (see sort_tables): the parents
-- whose visibility a row of `rel` follows.
CREATE FUNCTION softview_internal.parents(rel regclass)
RETURNS TABLE (constraint_name name, parent regclass, child_columns name[], parent_columns name[], nullable boolean)
LANGUAGE sql STABLE STRICT AS $$
    SELECT c.conname,
           c.confrelid::regclass,
           array(SELECT a.attname
                 FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, n)
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
                 ORDER BY k.n),
           array(SELECT a.attname
                 FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, n)
                 JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum
                 ORDER BY k.n),
           EXISTS (SELECT 1 FROM unnest(c.conkey) AS k(attnum)
                   WHERE softview_internal.column_may_be_null(c.conrelid, k.attnum))
    FROM pg_constraint c
    JOIN softview_internal.tables p ON p.relation = c.confrelid
    WHERE c.contype = 'f'
      AND c.conrelid = rel
      AND c.confrelid <> rel
      AND p.position < coalesce((SELECT t.position FROM softview_internal.tables t WHERE t.relation = rel),
                                9223372036854775807)
    ORDER BY c.conname
$$;

-- The names of columns `attnums` of `rel`, in that order (a constraint's conkey or confkey).
CREATE FUNCTION softview_internal.column_names(rel regclass, attnums smallint[]) RETURNS name[]
LANGUAGE sql STABLE STRICT AS $$
    SELECT array(SELECT a.attname
                 FROM unnest(attnums) WITH ORDINALITY AS k(attnum, n)
                 JOIN pg_attribute a ON a.attrelid = rel AND a.attnum = k.attnum
                 ORDER BY k.n)
$$;

-- The foreign keys from `rel` to itself (a task's parent task): its rows hide with their
-- ancestors, and writes through its view refuse a hidden parent.
CREATE FUNCTION softview_internal.self_references(rel regclass)
RETURNS TABLE (constraint_name name, parent regclass, child_columns name[], parent_columns name[], nullable boolean)
LANGUAGE sql STABLE STRICT AS $$
    SELECT c.conname, rel,
           softview_internal.column_names(rel, c.conkey),
           softview_internal.column_names(rel, c.confkey),
           EXISTS (SELECT 1 FROM unnest(c.conkey) AS k(attnum)
                   WHERE softview_internal.column_may_be_null(rel, k.attnum))
    FROM pg_constraint c
    WHERE c.contype = 'f' AND c.conrelid = rel AND c.confrelid = rel
    ORDER BY c.conname
$$;

-- The equality operators of a key, column by column, written `OPERATOR(schema.=)`. Under the
-- pinned search_path a bare `=` would find only pg_catalog's operators: a citext column would
-- compare as text, case-sensitively. So every comparison the toolkit generates names the
-- operator the key itself uses: for a foreign key the one it checks with (referenced against
-- referencing columns, or referencing against referencing when `both_referencing`), for a
-- primary key the operator of its index's operator classes for btree `strategy` (3 is `=`, 1
-- `<`, 5 `>`: keyset pages follow the index's own order).
CREATE FUNCTION softview_internal.foreign_key_operators(rel regclass, constraint_name name,
                                                        both_referencing boolean DEFAULT false) RETURNS text[]
LANGUAGE sql STABLE STRICT AS $$
    SELECT array(
        SELECT format('OPERATOR(%I.%s)', n.nspname, o.oprname)
        FROM pg_constraint c
        CROSS JOIN LATERAL unnest(CASE WHEN both_referencing THEN c.conffeqop ELSE c.conpfeqop END)
            WITH ORDINALITY AS k(operator_id, n)
        JOIN pg_operator o ON o.oid = k.operator_id
        JOIN pg_namespace n ON n.oid = o.oprnamespace
        WHERE c.conrelid = rel AND c.conname = constraint_name AND c.contype = 'f'
        ORDER BY k.n)
$$;

CREATE FUNCTION softview_internal.primary_key_operators(rel regclass, strategy smallint DEFAULT 3) RETURNS text[]
LANGUAGE sql STABLE STRICT AS $$
    SELECT array(
        SELECT format('OPERATOR(%I.%s)', n.nspname, o.oprname)
        FROM pg_index i
        CROSS JOIN LATERAL unnest(i.indclass::oid[]) WITH ORDINALITY AS k(opclass, n)
        JOIN pg_opclass oc ON oc.oid = k.opclass
        JOIN pg_amop a ON a.amopfamily = oc.opcfamily AND a.amoplefttype = oc.opcintype
                      AND a.amoprighttype = oc.opcintype AND a.amopstrategy = strategy
        JOIN pg_operator o ON o.oid = a.amopopr
        JOIN pg_namespace n ON n.oid = o.oprnamespace
        WHERE i.indrelid = rel AND i.indisprimary
        ORDER BY k.n)
$$;

-- `a = (row).a AND b = (row).b` for the given columns, each with its key's equality operator
-- (see foreign_key_operators); `row_ref` is the row expression.
CREATE FUNCTION softview_internal.match_columns(left_alias text, left_columns name[], row_ref text,
                                                right_columns name[], operators text[])
RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT string_agg(format('%s%I %s %s.%I', left_alias, l, op, row_ref, r), ' AND ' ORDER BY n)
    FROM unnest(left_columns, right_columns, operators) WITH ORDINALITY AS u(l, r, op, n)
$$;

-- Making, refreshing and dropping the active_* views, and enabling tables.

-- The view's query: the table's columns, rows that are not deleted, and whose parents (by
-- their own active views, so hiding cascades through any depth) are visible. Where the table
-- refers to itself (a task's parent task), a row is also hidden while any of its ancestors is
-- deleted or hidden by its own parents: a view cannot read itself, so the ancestors are walked
-- by a recursive query per row (one index probe per level; docs/benchmarks.md).
CREATE FUNCTION softview_internal.view_query(rel regclass) RETURNS text
LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE
    columns text;
    soft_deletable boolean := (SELECT t.soft_deletable FROM softview_internal.tables t WHERE t.relation = rel);
    conditions text[] := '{}';
    p record;
    hidden text[];
    walked name[];
    walked_select text;
BEGIN
    SELECT string_agg(format('t.%I', c), ', ') INTO columns FROM softview_internal.columns(rel) AS c;
    IF soft_deletable THEN
        conditions := conditions || 't.deleted_at IS NULL'::text;
    END IF;
    FOR p IN SELECT * FROM softview_internal.parents(rel) LOOP
        conditions := conditions || softview_internal.parent_visible(rel, p.constraint_name, p.parent, p.child_columns,
                                                                     p.parent_columns, p.nullable, 't');
    END LOOP;
    FOR p IN SELECT * FROM softview_internal.self_references(rel)
             WHERE (SELECT t.hide_descendants FROM softview_internal.tables t WHERE t.relation = rel) LOOP
        -- What hides an ancestor x: its deleted_at, or a parent of its own that is not visible.
        hidden := CASE WHEN soft_deletable THEN ARRAY['x.deleted_at IS NOT NULL'] ELSE '{}' END
                  || array(SELECT format('NOT %s', softview_internal.parent_visible(rel, o.constraint_name, o.parent,
                                                       o.child_columns, o.parent_columns, o.nullable, 'x'))
                           FROM softview_internal.parents(rel) AS o);
        CONTINUE WHEN cardinality(hidden) = 0;
        -- The columns the walk needs: the keys it follows and what hides a row.
        walked := array(SELECT DISTINCT c
                        FROM unnest(p.parent_columns || p.child_columns
                                    || CASE WHEN soft_deletable THEN '{deleted_at}'::name[] ELSE '{}' END
                                    || array(SELECT c FROM softview_internal.parents(rel) AS o,
                                                           unnest(o.child_columns) AS c)) AS c
                        ORDER BY c);
        walked_select := (SELECT string_agg(format('a.%I', c), ', ') FROM unnest(walked) AS c);
        conditions := conditions || format(
            '(%s OR NOT EXISTS (WITH RECURSIVE ancestor (%s) AS (
                 SELECT %s FROM %s a WHERE %s
                 UNION
                 SELECT %s FROM %s a JOIN ancestor x ON %s)
             SELECT 1 FROM ancestor x WHERE %s))',
            (SELECT string_agg(format('t.%I IS NULL', c), ' OR ') FROM unnest(p.child_columns) AS c),
            (SELECT string_agg(quote_ident(c), ', ') FROM unnest(walked) AS c),
            walked_select,
            softview_internal.qualified_name(rel),
            softview_internal.match_columns('a.', p.parent_columns, 't', p.child_columns,
                                           softview_internal.foreign_key_operators(rel, p.constraint_name)),
            walked_select,
            softview_internal.qualified_name(rel),
            softview_internal.match_columns('a.', p.parent_columns, 'x', p.child_columns,
                                           softview_internal.foreign_key_operators(rel, p.constraint_name)),
            array_to_string(hidden, ' OR '));
    END LOOP;
    RETURN format('SELECT %s FROM %s t WHERE %s',
        columns, softview_internal.qualified_name(rel),
        coalesce(nullif(array_to_string(conditions, ' AND '), ''), 'true'));
END
$$;

-- `row_alias`'s reference through foreign key `constraint_name` names a row the parent's view
-- shows, or, when its columns may be NULL, is unset. (A bare EXISTS, which PostgreSQL can turn
-- into a semi-join, where the key cannot be NULL.)
CREATE FUNCTION softview_internal.parent_visible(rel regclass, constraint_name name, parent regclass,
                                                child_columns name[], parent_columns name[],
                                                nullable boolean, row_alias text)
RETURNS text
LANGUAGE sql STABLE STRICT AS $$
    SELECT CASE WHEN nullable
                THEN format('(%s OR %s)',
                            (SELECT string_agg(format('%s.%I IS NULL', row_alias, c), ' OR ') FROM unnest(child_columns) AS c),
                            visible)
                ELSE visible END
    FROM (SELECT format('EXISTS (SELECT 1 FROM %s p WHERE %s)', softview_internal.view_name(parent),
                        softview_internal.match_columns('p.', parent_columns, row_alias, child_columns,
                                                        softview_internal.foreign_key_operators(rel, constraint_name)))
                 AS visible) AS v
$$;

-- The trigger function behind the view of `rel`, generated from the catalog (see
-- view_trigger_source). It lives in softview_internal, where only the toolkit's owner creates
-- objects, so this runs as that owner for the table's owner; the function itself runs with
-- the rights and the search_path of whoever writes through the view.
CREATE FUNCTION softview_internal.install_write_function(rel regclass) RETURNS regprocedure
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    view_rel regclass := softview_internal.view_of(rel);
    trigger_function text := softview_internal.trigger_function_name(rel);
BEGIN
    PERFORM softview_internal.require_enabled(rel);
    PERFORM softview_internal.require_owner(rel, 'refresh its view');
    IF view_rel IS NULL OR NOT EXISTS (
        SELECT 1 FROM pg_rewrite r JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
        WHERE r.ev_class = view_rel AND d.refclassid = 'pg_class'::regclass AND d.refobjid = rel)
    THEN
        RAISE EXCEPTION 'cannot enable %: % is not a view of it', softview_internal.qualified_name(rel),
                        softview_internal.view_name(rel)
            USING ERRCODE = 'wrong_object_type';
    END IF;
    EXECUTE format('CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS %L',
        trigger_function, softview_internal.view_trigger_source(rel, view_rel));
    EXECUTE format('COMMENT ON FUNCTION %s() IS %L', trigger_function,
        format('writes through %s (generated by softview; re-created with softview.refresh)', view_rel));
    RETURN to_regprocedure(trigger_function || '()');
END
$$;

-- Drops a generated trigger function that no trigger uses any more (its view was dropped, or
-- the table got a new oid).
CREATE FUNCTION softview_internal.drop_write_function(generated regprocedure) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_proc WHERE oid = generated
                 AND pronamespace = 'softview_internal'::regnamespace AND proname LIKE 'write\_%')
       AND NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgfoid = generated) THEN
        EXECUTE format('DROP FUNCTION %s', generated);
    END IF;
END
$$;

-- Keeps the grants on the view of `rel`, which is about to be dropped, for the next refresh.
-- They are read from the view itself: nobody can plant grants for refresh to make.
CREATE FUNCTION softview_internal.save_view_grants(rel regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM softview_internal.require_owner(rel, 'drop its view');
    UPDATE softview_internal.tables
    SET saved_view_acl = (SELECT relacl FROM pg_class WHERE oid = softview_internal.view_of(rel))
    WHERE relation = rel;
END
$$;

-- The grants save_view_grants kept for the view of `rel`, forgotten once taken.
CREATE FUNCTION softview_internal.take_view_grants(rel regclass) RETURNS aclitem[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    saved aclitem[];
BEGIN
    PERFORM softview_internal.require_owner(rel, 'refresh its view');
    SELECT saved_view_acl INTO saved FROM softview_internal.tables WHERE relation = rel FOR UPDATE;
    IF saved IS NOT NULL THEN
        UPDATE softview_internal.tables SET saved_view_acl = NULL WHERE relation = rel;
    END IF;
    RETURN saved;
END
$$;

-- Puts `rel` into the catalog (soft-deletable when it has deleted_at), or updates that.
CREATE FUNCTION softview_internal.register_table(rel regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM softview_internal.check_enableable(rel);
    PERFORM softview_internal.require_owner(rel, 'enable it');
    INSERT INTO softview_internal.tables AS t (relation, soft_deletable, position)
    VALUES (rel, EXISTS (SELECT 1 FROM pg_attribute
                         WHERE attrelid = rel AND attname = 'deleted_at' AND attnum > 0 AND NOT attisdropped),
            (SELECT coalesce(max(position), 0) + 1 FROM softview_internal.tables))
    ON CONFLICT (relation) DO UPDATE SET soft_deletable = excluded.soft_deletable
    WHERE t.soft_deletable IS DISTINCT FROM excluded.soft_deletable;
END
$$;

-- Takes `rel` out of the catalog (softview.disable, after its view and triggers are gone).
CREATE FUNCTION softview_internal.unregister_table(rel regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM softview_internal.require_owner(rel, 'disable it');
    DELETE FROM softview_internal.tables WHERE relation = rel;
END
$$;

-- Whether `rel` has a column deleted_at (of any type: softview.enable checks the type).
CREATE FUNCTION softview_internal.has_deleted_at(rel regclass) RETURNS boolean
LANGUAGE sql STABLE STRICT AS $$
    SELECT EXISTS (SELECT 1 FROM pg_attribute
                   WHERE attrelid = rel AND attname = 'deleted_at' AND attnum > 0 AND NOT attisdropped)
$$;

-- The indexes softview builds for `rel` unless they exist (see ensure_index):
--  _trash       on a table with deleted_at: the trash, newest first, and the purge, oldest
--               first, read deleted rows by deleted_at (built by softview.enable);
--  _live_keys   on each soft-deletable parent: the view of `rel` probes its live keys;
--  _trash_links on a link with deleted_at: an insert through its view looks for a deleted link
--               to revive.
CREATE FUNCTION softview_internal.wanted_indexes(rel regclass)
RETURNS TABLE (relation regclass, key_columns name[], predicate text, suffix text, purpose text)
LANGUAGE sql STABLE STRICT AS $$
    WITH wanted AS (
        SELECT rel AS relation, '{deleted_at}'::name[] AS key_columns, 'deleted_at IS NOT NULL' AS predicate,
               '_trash' AS suffix,
               'the trash, newest first, and the purge, oldest first, read deleted rows by deleted_at' AS purpose
        WHERE softview_internal.has_deleted_at(rel)
        UNION ALL
        SELECT DISTINCT p.parent, p.parent_columns, 'deleted_at IS NULL', '_live_keys',
               'the views of the tables referencing it look up live keys'
        FROM softview_internal.parents(rel) AS p
        JOIN softview_internal.tables t ON t.relation = p.parent AND t.soft_deletable
        UNION ALL
        SELECT rel, array(SELECT c FROM softview_internal.parents(rel) AS p, unnest(p.child_columns) AS c),
               'deleted_at IS NOT NULL', '_trash_links',
               'an insert through its view looks for a deleted link to revive'
        WHERE softview_internal.has_deleted_at(rel)
          AND (SELECT count(*) FROM softview_internal.parents(rel)) >= 2
    )
    SELECT * FROM wanted
$$;

-- Creates or replaces the view of one enabled table with its defaults, triggers, comment and
-- any grants saved by drop_views.
CREATE FUNCTION softview_internal.install_view(rel regclass) RETURNS regclass
LANGUAGE plpgsql AS $$
DECLARE
    view_name text := softview_internal.view_name(rel);
    has_parents boolean := EXISTS (SELECT 1 FROM softview_internal.parents(rel)
                                   UNION ALL SELECT 1 FROM softview_internal.self_references(rel));
    trigger_function text := softview_internal.trigger_function_name(rel);
    previous_function regprocedure;
    saved aclitem[];
    col record;
    grant_row record;
BEGIN
    IF softview_internal.view_of(rel) IS NOT NULL AND NOT softview_internal.is_view_of(softview_internal.view_of(rel), rel) THEN
        RAISE EXCEPTION 'cannot enable %: % already exists and is not its softview view',
                        softview_internal.qualified_name(rel), view_name
            USING ERRCODE = 'duplicate_table',
                  HINT = format('rename or drop %s; softview names the view of %s %s',
                                view_name, softview_internal.qualified_name(rel), view_name);
    END IF;
    EXECUTE format('CREATE OR REPLACE VIEW %s WITH (security_invoker = true) AS %s',
        view_name, softview_internal.view_query(rel));
    EXECUTE format('COMMENT ON VIEW %s IS %L', view_name,
        format('live rows of %s (managed by softview; re-create with softview.refresh)',
               softview_internal.qualified_name(rel)));

    -- DELETE through the view soft-deletes (or, for a dependent without deleted_at, removes).
    previous_function := softview_internal.current_trigger_function(view_name::regclass);
    PERFORM softview_internal.install_write_function(rel);
    EXECUTE format('CREATE OR REPLACE TRIGGER softview_delete INSTEAD OF DELETE ON %s
                    FOR EACH ROW EXECUTE FUNCTION %s()', view_name, trigger_function);

    -- The view probes each parent's live keys, and an insert into a link's view looks for a
    -- deleted link: partial indexes answer both from the index alone.
    FOR col IN SELECT * FROM softview_internal.wanted_indexes(rel) AS w WHERE w.suffix <> '_trash' LOOP
        BEGIN
            PERFORM softview_internal.ensure_index(col.relation, col.key_columns, col.predicate,
                                                   col.suffix, col.purpose);
        EXCEPTION WHEN insufficient_privilege THEN
            -- The parent belongs to another role: its owner creates the index, or does without.
            RAISE NOTICE 'the view of % would probe % faster with an index on its live keys, which only its owner can create',
                         softview_internal.qualified_name(rel), softview_internal.qualified_name(col.relation)
                USING HINT = format('CREATE INDEX ON %s (%s) WHERE %s',
                                    softview_internal.qualified_name(col.relation),
                                    (SELECT string_agg(quote_ident(c), ', ') FROM unnest(col.key_columns) AS c),
                                    col.predicate);
        END;
    END LOOP;

    IF has_parents THEN
        -- Writes through the view check that the parents are live, so no write through it can
        -- create a row the view would then hide. NEW only carries defaults the view declares.
        FOR col IN
            SELECT a.attname, a.attidentity, pg_get_expr(d.adbin, d.adrelid) AS default_expr
            FROM pg_attribute a
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
              AND a.attgenerated = ''  -- a generated column's expression is no default
              AND (d.adbin IS NOT NULL OR a.attidentity <> '')
        LOOP
            EXECUTE format('ALTER VIEW %s ALTER COLUMN %I SET DEFAULT %s', view_name, col.attname,
                CASE WHEN col.attidentity <> ''
                     THEN format('nextval(%L::regclass)',
                                 pg_get_serial_sequence(softview_internal.qualified_name(rel), col.attname))
                     ELSE col.default_expr END);
        END LOOP;
        EXECUTE format('CREATE OR REPLACE TRIGGER softview_insert INSTEAD OF INSERT ON %s
                        FOR EACH ROW EXECUTE FUNCTION %s()', view_name, trigger_function);
        EXECUTE format('CREATE OR REPLACE TRIGGER softview_update INSTEAD OF UPDATE ON %s
                        FOR EACH ROW EXECUTE FUNCTION %s()', view_name, trigger_function);
    END IF;
    -- The function the view used before, when its name changed (a table restored from a dump
    -- has a new oid): nothing else calls it.
    IF previous_function IS NOT NULL AND previous_function <> to_regprocedure(trigger_function || '()') THEN
        PERFORM softview_internal.drop_write_function(previous_function);
    END IF;

    saved := softview_internal.take_view_grants(rel);
    FOR grant_row IN
        SELECT a.grantee, a.privilege_type, a.is_grantable
        FROM aclexplode(saved) AS a
        WHERE saved IS NOT NULL AND a.grantee <> (SELECT relowner FROM pg_class WHERE oid = rel)
    LOOP
        EXECUTE format('GRANT %s ON %s TO %s%s', grant_row.privilege_type, view_name,
            CASE WHEN grant_row.grantee = 0 THEN 'PUBLIC'
                 ELSE quote_ident(pg_get_userbyid(grant_row.grantee)) END,
            CASE WHEN grant_row.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
    RETURN view_name::regclass;
END
$$;

-- Whether a catalog row still names a table: a dropped table leaves a dangling OID behind.
CREATE FUNCTION softview_internal.table_exists(rel regclass) RETURNS boolean
LANGUAGE sql STABLE STRICT AS $$
    SELECT EXISTS (SELECT 1 FROM pg_class WHERE oid = rel AND relkind IN ('r', 'p'))
$$;

-- Forgets the enabled tables that no longer exist (DROP TABLE, the end of a temporary
-- table's session): PostgreSQL drops their triggers and views with them but cannot drop their
-- row of the catalog. Enable, disable and refresh_all call it; until then the purge and the
-- listings skip such rows. Returns how many it forgot, with a WARNING for each.
CREATE FUNCTION softview.forget_dropped_tables() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    gone oid;
    forgotten bigint := 0;
BEGIN
    FOR gone IN
        DELETE FROM softview_internal.tables t
        WHERE NOT softview_internal.table_exists(t.relation)
        RETURNING t.relation::oid
    LOOP
        RAISE WARNING 'softview forgot the enabled table with OID %: it was dropped', gone
            USING HINT = 'softview.deleted_records keeps its archived rows under their table name';
        forgotten := forgotten + 1;
    END LOOP;
    RETURN forgotten;
END
$$;

-- Sets `position` so that every parent comes before the tables that reference it, whatever
-- order they were enabled in. Foreign-key cycles (store <-> staff in Pagila) are broken by
-- enable order: taking the tables in that order, a table's references to tables already taken
-- are kept, and so are their references to it unless that would close a cycle.
CREATE FUNCTION softview_internal.sort_tables() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    -- Foreign keys between two different enabled tables, as parallel arrays.
    fk_children regclass[];
    fk_parents regclass[];
    kept_children regclass[] := '{}';
    kept_parents regclass[] := '{}';
    taken regclass[] := '{}';
    ancestors regclass[];
    found_parents regclass[];
    found_children regclass[];
    sorted regclass[] := '{}';
    current regclass;
BEGIN
    PERFORM softview.forget_dropped_tables();
    SELECT coalesce(array_agg(child), '{}'), coalesce(array_agg(parent), '{}')
    INTO fk_children, fk_parents
    FROM (SELECT DISTINCT c.conrelid::regclass AS child, c.confrelid::regclass AS parent
          FROM pg_constraint c
          JOIN softview_internal.tables ct ON ct.relation = c.conrelid
          JOIN softview_internal.tables pt ON pt.relation = c.confrelid
          WHERE c.contype = 'f' AND c.conrelid <> c.confrelid) AS f;
    FOR current IN SELECT relation FROM softview_internal.tables ORDER BY enable_order LOOP
        found_parents := array(SELECT f.parent FROM unnest(fk_children, fk_parents) AS f(child, parent)
                               WHERE f.child = current AND f.parent = ANY (taken));
        kept_children := kept_children || array_fill(current, ARRAY[cardinality(found_parents)]);
        kept_parents := kept_parents || found_parents;
        ancestors := array(
            WITH RECURSIVE up(relation) AS (
                SELECT current
                UNION
                SELECT e.parent FROM up JOIN unnest(kept_children, kept_parents) AS e(child, parent)
                                          ON e.child = up.relation
            )
            SELECT relation FROM up);
        found_children := array(SELECT f.child FROM unnest(fk_children, fk_parents) AS f(child, parent)
                                WHERE f.parent = current AND f.child = ANY (taken)
                                  AND f.child <> ALL (ancestors));
        kept_children := kept_children || found_children;
        kept_parents := kept_parents || array_fill(current, ARRAY[cardinality(found_children)]);
        taken := taken || current;
    END LOOP;
    -- Kahn's algorithm on the kept references, ties going to the table enabled first.
    LOOP
        SELECT t.relation INTO current
        FROM softview_internal.tables t
        WHERE t.relation <> ALL (sorted)
          AND NOT EXISTS (SELECT 1 FROM unnest(kept_children, kept_parents) AS e(child, parent)
                          WHERE e.child = t.relation AND e.parent <> ALL (sorted))
        ORDER BY t.enable_order
        LIMIT 1;
        EXIT WHEN NOT FOUND;
        sorted := sorted || current;
    END LOOP;
    UPDATE softview_internal.tables t SET position = s.n
    FROM unnest(sorted) WITH ORDINALITY AS s(relation, n)
    WHERE t.relation = s.relation AND t.position IS DISTINCT FROM s.n;
END
$$;

CREATE FUNCTION softview_internal.check_enableable(rel regclass) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM softview_internal.checked_table(rel);
    IF (SELECT relkind FROM pg_class WHERE oid = rel) NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'cannot enable %: it is not a table', rel
            USING ERRCODE = 'wrong_object_type', DETAIL = softview_internal.why_not_enabled(rel);
    END IF;
    PERFORM softview_internal.require_owner(rel, 'enable it');
    IF cardinality(softview_internal.primary_key(rel)) = 0 THEN
        RAISE EXCEPTION 'cannot enable %: it has no primary key', rel
            USING ERRCODE = 'invalid_table_definition',
                  HINT = 'softview identifies rows by primary key in its triggers and archive';
    END IF;
    IF octet_length('active_' || (SELECT relname FROM pg_class WHERE oid = rel)) > 63 THEN
        RAISE EXCEPTION 'cannot enable %: its view would be named active_%, longer than PostgreSQL''s 63 bytes', rel,
                        (SELECT relname FROM pg_class WHERE oid = rel)
            USING ERRCODE = 'name_too_long',
                  HINT = 'rename the table to at most 56 bytes';
    END IF;
END
$$;

-- After `rel` joined the catalog: sorts it, then (re)creates the archive trigger, the view of
-- `rel` and the views built on it. Tables enabled earlier that reference `rel` follow it from
-- now on; a NOTICE names them, and those a foreign-key cycle keeps from following it.
CREATE FUNCTION softview_internal.install_enabled(rel regclass) RETURNS regclass
LANGUAGE plpgsql AS $$
DECLARE
    followed_before regclass[] := array(SELECT softview_internal.followers(rel));
    followed_now regclass[];
    member regclass;
BEGIN
    PERFORM softview_internal.sort_tables();
    PERFORM softview.refresh(rel);
    followed_now := array(SELECT softview_internal.followers(rel));
    FOR member IN SELECT f FROM unnest(followed_now) AS f WHERE f <> ALL (followed_before) LOOP
        RAISE NOTICE 'the view of % now also hides rows whose row in % is deleted', member, rel;
    END LOOP;
    FOR member IN
        SELECT DISTINCT c.conrelid::regclass
        FROM pg_constraint c JOIN softview_internal.tables t ON t.relation = c.conrelid
        WHERE c.contype = 'f' AND c.confrelid = rel AND c.conrelid <> rel
          AND c.conrelid::regclass <> ALL (followed_now)
    LOOP
        RAISE NOTICE 'the view of % does not follow %: that would close a foreign-key cycle', member, rel
            USING HINT = 'a cycle is broken by enable order: the table enabled first is the parent';
    END LOOP;
    RETURN softview_internal.view_name(rel)::regclass;
END
$$;

-- Enables a table that has `deleted_at timestamptz`: creates active_<table>, whose DELETE
-- soft-deletes. Calling it again re-creates the view. Returns the view.
CREATE FUNCTION softview.enable(rel regclass) RETURNS regclass
LANGUAGE plpgsql AS $$
DECLARE
    deleted_at_type text;
BEGIN
    PERFORM softview_internal.check_enableable(rel);
    SELECT format_type(atttypid, atttypmod) INTO deleted_at_type
    FROM pg_attribute
    WHERE attrelid = rel AND attname = 'deleted_at' AND attnum > 0 AND NOT attisdropped;
    IF deleted_at_type IS NULL THEN
        RAISE EXCEPTION 'cannot enable %: it has no column deleted_at', rel
            USING ERRCODE = 'undefined_column',
                  HINT = format('ALTER TABLE %s ADD COLUMN deleted_at timestamptz; a table whose rows only hide with their parents takes softview.enable_dependent', rel);
    ELSIF deleted_at_type <> 'timestamp with time zone' THEN
        RAISE EXCEPTION 'cannot enable %: column deleted_at is %, not timestamptz', rel, deleted_at_type
            USING ERRCODE = 'datatype_mismatch';
    END IF;
    PERFORM softview_internal.register_table(rel);
    PERFORM softview_internal.ensure_index(rel, w.key_columns, w.predicate, w.suffix, w.purpose)
    FROM softview_internal.wanted_indexes(rel) AS w WHERE w.suffix = '_trash';
    RETURN softview_internal.install_enabled(rel);
END
$$;

-- Enables a table without deleted_at (a link such as Pagila's film_actor) whose rows are hidden
-- whenever one of its enabled parents is; DELETE through its view removes the row.
CREATE FUNCTION softview.enable_dependent(rel regclass) RETURNS regclass
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM softview_internal.check_enableable(rel);
    IF NOT EXISTS (SELECT 1 FROM softview_internal.parents(rel)) THEN
        RAISE EXCEPTION 'cannot enable % as a dependent: it has no foreign key to an enabled table', rel
            USING ERRCODE = 'invalid_table_definition',
                  HINT = 'enable its parents first, or add deleted_at and use softview.enable';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM softview_internal.tables WHERE relation = rel) THEN
        PERFORM softview_internal.register_table(rel);
    END IF;
    RETURN softview_internal.install_enabled(rel);
END
$$;

-- The enabled tables whose views filter on the view of `rel` directly.
CREATE FUNCTION softview_internal.followers(rel regclass) RETURNS SETOF regclass
LANGUAGE sql STABLE STRICT AS $$
    SELECT t.relation FROM softview_internal.tables t
    WHERE t.relation <> rel
      AND EXISTS (SELECT 1 FROM softview_internal.parents(t.relation) p WHERE p.parent = rel)
    ORDER BY t.position
$$;

-- `rel` and every enabled table whose view is built on its view, parents first.
CREATE FUNCTION softview_internal.with_dependents(rel regclass) RETURNS SETOF regclass
LANGUAGE sql STABLE STRICT AS $$
    WITH RECURSIVE family(relation) AS (
        SELECT rel
        UNION
        SELECT follower FROM family f CROSS JOIN LATERAL softview_internal.followers(f.relation) AS follower
    )
    SELECT f.relation FROM family f JOIN softview_internal.tables t USING (relation) ORDER BY t.position
$$;

-- Drops the view of `rel` and the softview views built on it, keeping their grants for the
-- next refresh. Refuses, naming them, when views not made by softview depend on them.
CREATE FUNCTION softview.drop_views(rel regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    family regclass[];
    views oid[];
    foreign_dependents text;
    member regclass;
    trigger_function regprocedure;
BEGIN
    PERFORM softview_internal.require_enabled(rel);
    family := array(SELECT softview_internal.with_dependents(rel));
    views := array(SELECT softview_internal.view_of(f)::oid FROM unnest(family) AS f
                   WHERE softview_internal.view_of(f) IS NOT NULL);
    SELECT string_agg(DISTINCT r.ev_class::regclass::text, ', ') INTO foreign_dependents
    FROM pg_depend d
    JOIN pg_rewrite r ON r.oid = d.objid
    WHERE d.classid = 'pg_rewrite'::regclass
      AND d.refclassid = 'pg_class'::regclass
      AND d.refobjid = ANY (views)
      AND r.ev_class <> ALL (views);
    IF foreign_dependents IS NOT NULL THEN
        RAISE EXCEPTION 'cannot drop the softview views of %: % depend on them', rel, foreign_dependents
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'drop those views first and create them again after softview.refresh';
    END IF;
    FOR member IN SELECT f FROM unnest(family) WITH ORDINALITY AS u(f, n) ORDER BY n DESC LOOP
        IF softview_internal.view_of(member) IS NOT NULL THEN
            PERFORM softview_internal.save_view_grants(member);
            trigger_function := softview_internal.current_trigger_function(
                softview_internal.view_of(member));
            EXECUTE format('DROP VIEW %s', softview_internal.view_name(member));
            IF trigger_function IS NOT NULL THEN
                PERFORM softview_internal.drop_write_function(trigger_function);
            END IF;
        END IF;
    END LOOP;
END
$$;

-- Re-creates the view of `rel` and the views built on it after the table changed. Columns
-- added to the table are appended in place (grants, triggers and other dependents stay);
-- when the column list changed otherwise, the views are dropped and re-created.
CREATE FUNCTION softview.refresh(rel regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    member regclass;
BEGIN
    PERFORM softview_internal.require_enabled(rel);
    IF (SELECT soft_deletable FROM softview_internal.tables WHERE relation = rel) THEN
        PERFORM softview_internal.require_soft_deletable(rel);
    END IF;
    PERFORM softview_internal.install_archive(rel);
    BEGIN
        FOR member IN SELECT softview_internal.with_dependents(rel) LOOP
            PERFORM softview_internal.install_view(member);
        END LOOP;
    EXCEPTION WHEN invalid_table_definition THEN
        -- CREATE OR REPLACE VIEW cannot drop, rename or retype columns.
        PERFORM softview.drop_views(rel);
        FOR member IN SELECT softview_internal.with_dependents(rel) LOOP
            PERFORM softview_internal.install_view(member);
        END LOOP;
    END;
END
$$;

-- Forgets dropped tables, sorts the catalog again and re-creates every view, parents first:
-- the repair for views made in another order (by revision 1, which kept enable order). A table
-- that cannot be refreshed (its deleted_at dropped, say) is skipped with a WARNING naming it
-- and the error, so that it does not keep the others from their refresh.
CREATE FUNCTION softview.refresh_all() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    member regclass;
BEGIN
    PERFORM softview_internal.sort_tables();
    FOR member IN SELECT relation FROM softview_internal.tables ORDER BY position LOOP
        BEGIN
            PERFORM softview.refresh(member);
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'softview could not refresh %: %', softview_internal.qualified_name(member), SQLERRM
                USING HINT = 'fix the table and call softview.refresh on it, or softview.disable it';
        END;
    END LOOP;
END
$$;

-- Drops the view of `rel` (refusing while other enabled tables build on it) and forgets it.
CREATE FUNCTION softview.disable(rel regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    dependents text;
    created regclass;
    member regclass;
    referencing record;
    probed_parents regclass[];
BEGIN
    PERFORM softview.forget_dropped_tables();
    PERFORM softview_internal.require_enabled(rel);
    PERFORM softview_internal.require_owner(rel, 'disable it');
    probed_parents := array(SELECT p.parent FROM softview_internal.parents(rel) AS p);
    SELECT string_agg(d::text, ', ') INTO dependents
    FROM softview_internal.with_dependents(rel) AS d WHERE d <> rel;
    IF dependents IS NOT NULL THEN
        RAISE EXCEPTION 'cannot disable %: the views of % are built on it', rel, dependents
            USING ERRCODE = 'dependent_objects_still_exist', HINT = 'disable those tables first';
    END IF;
    PERFORM softview.drop_views(rel);
    FOR member IN SELECT rel UNION SELECT relid FROM pg_partition_tree(rel) LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS softview_archive ON %s', softview_internal.qualified_name(member));
        EXECUTE format('DROP TRIGGER IF EXISTS softview_truncate ON %s', softview_internal.qualified_name(member));
        EXECUTE format('DROP TRIGGER IF EXISTS softview_announce_summary ON %s', softview_internal.qualified_name(member));
    END LOOP;
    EXECUTE format('DROP TRIGGER IF EXISTS softview_announce ON %s', softview_internal.qualified_name(rel));
    FOR referencing IN SELECT c.conrelid::regclass AS relation, c.conname FROM pg_constraint c
                       WHERE c.contype = 'f' AND c.confrelid = rel AND c.confdeltype IN ('n', 'd') LOOP
        BEGIN
            EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', softview_internal.reference_trigger_name(referencing.conname),
                           softview_internal.qualified_name(referencing.relation));
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'the owner of % may drop trigger %', referencing.relation,
                         softview_internal.reference_trigger_name(referencing.conname);
        END;
    END LOOP;
    -- The indexes softview created on the table (see ensure_index).
    FOR created IN
        SELECT i.indexrelid::regclass FROM pg_index i
        WHERE i.indrelid = rel AND obj_description(i.indexrelid, 'pg_class') LIKE 'created by softview: %'
    LOOP
        EXECUTE format('DROP INDEX %s', created);
    END LOOP;
    PERFORM softview_internal.unregister_table(rel);
    -- And the live-key indexes softview created on its parents, unless another view still
    -- probes the same keys.
    FOR created IN
        SELECT i.indexrelid::regclass FROM pg_index i
        WHERE i.indrelid = ANY (probed_parents)
          AND obj_description(i.indexrelid, 'pg_class') LIKE 'created by softview: the views of the tables referencing it%'
          AND NOT EXISTS (
              SELECT 1 FROM softview_internal.tables t, softview_internal.parents(t.relation) AS p
              WHERE p.parent = i.indrelid
                AND i.indkey::text = (SELECT string_agg(a.attnum::text, ' ' ORDER BY u.n)
                                      FROM unnest(p.parent_columns) WITH ORDINALITY AS u(c, n)
                                      JOIN pg_attribute a ON a.attrelid = p.parent AND a.attname = u.c))
    LOOP
        BEGIN
            EXECUTE format('DROP INDEX %s', created);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'no view probes % any more; its owner may drop it', created;
        END;
    END LOOP;
END
$$;

-- Enabled tables as the generator and the command line see them.
CREATE VIEW softview.enabled_tables AS
SELECT t.relation,
       n.nspname AS schema_name,
       c.relname AS table_name,
       'active_' || c.relname AS view_name,
       t.soft_deletable,
       softview_internal.primary_key(t.relation) AS primary_key,
       CASE (SELECT count(*) FROM softview_internal.parents(t.relation))
           WHEN 0 THEN 'table' WHEN 1 THEN 'child' ELSE 'link' END AS kind,
       t.position
FROM softview_internal.tables t
JOIN pg_class c ON c.oid = t.relation
JOIN pg_namespace n ON n.oid = c.relnamespace;

-- The INSTEAD OF triggers of the views: DELETE soft-deletes, writes check their parents.

-- The check a write through the view of `rel` runs when a parent (through `constraint_name`)
-- was not live: unless it is live now, it raises the error that names the parent, deleted
-- (SV001) or missing (23503, PostgreSQL's own code). It is generated into the write function
-- with every name written in, so that a refused write runs static SQL with cached plans: a
-- catalog walk and a query planned per call cost 2.3 ms a refusal, and under load the parents'
-- key locks were held that long.
CREATE FUNCTION softview_internal.parent_check_source(rel regclass, constraint_name name, parent regclass,
                                                      child_columns name[], parent_columns name[],
                                                      live text) RETURNS text
LANGUAGE sql STABLE STRICT AS $$
    SELECT format($check$
        IF NOT %1$s THEN
            IF EXISTS (SELECT 1 FROM %2$s p WHERE %3$s) THEN
                RAISE EXCEPTION 'parent row is deleted: %%', %4$L USING ERRCODE = 'SV001',
                    DETAIL = pg_catalog.format(%5$L, %6$s),
                    HINT = %7$L, TABLE = %8$L, SCHEMA = %9$L, CONSTRAINT = %10$L;
            END IF;
            RAISE EXCEPTION 'parent row does not exist: %%', %4$L USING ERRCODE = 'foreign_key_violation',
                DETAIL = pg_catalog.format(%11$L, %6$s),
                HINT = %12$L, TABLE = %13$L, CONSTRAINT = %10$L;
        END IF;$check$,
        live,
        softview_internal.qualified_name(parent),
        softview_internal.match_columns('p.', parent_columns, 'NEW', child_columns,
                                        softview_internal.foreign_key_operators(rel, constraint_name)),
        softview_internal.qualified_name(parent),
        key_prefix || '%s).',
        format('pg_catalog.concat_ws(%L, %s)', ', ',
               (SELECT string_agg(format('NEW.%I', c), ', ') FROM unnest(child_columns) AS c)),
        format('%s refers to it through %s; restore the parent first',
               softview_internal.qualified_name(rel), constraint_name),
        (SELECT relname FROM pg_class WHERE oid = parent),
        (SELECT n.nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid WHERE c.oid = parent),
        constraint_name,
        key_prefix || '%s) is not present in table '
            || replace(softview_internal.qualified_name(parent), '%', '%%') || '.',
        format('%s refers to it through %s', softview_internal.qualified_name(rel), constraint_name),
        (SELECT relname FROM pg_class WHERE oid = rel))
    -- The start of both DETAILs, `Key (id)=(`, as a format() template.
    FROM (SELECT replace(format('Key (%s)=(', string_agg(quote_ident(c), ', ')), '%', '%%') AS key_prefix
          FROM unnest(parent_columns) AS c) AS k
$$;

-- Columns a trigger may write: the view's columns less generated ones.
CREATE FUNCTION softview_internal.writable_columns(view_rel regclass, rel regclass, for_update boolean)
RETURNS name[]
LANGUAGE sql STABLE STRICT AS $$
    SELECT array(
        SELECT v.attname
        FROM pg_attribute v
        JOIN pg_attribute t ON t.attrelid = rel AND t.attname = v.attname AND NOT t.attisdropped
        WHERE v.attrelid = view_rel AND v.attnum > 0 AND NOT v.attisdropped
          AND t.attgenerated = ''
          AND NOT (for_update AND t.attidentity = 'a')
        ORDER BY v.attnum)
$$;

-- The source of the trigger function behind the view of `rel`: DELETE soft-deletes (or, for a
-- dependent without deleted_at, removes), and for a table with enabled parents INSERT and UPDATE
-- check the parents and write the table. It is generated per table with every name written in,
-- so each write runs static SQL with a cached plan and no catalog lookups; install_view creates
-- it again whenever the view changes. Every name in it is schema-qualified, operators included,
-- so it needs no pinned search_path: the application's own triggers on the table then run with
-- the writer's search_path, as they do for a write to the table itself.
--
-- An insert is one statement when it can be: the row is written only if its parents are live
-- (and, for a link, no link with the same parents exists, deleted or live). Anything else takes
-- the slow path: the parent checks raise the error that names the parent, and a link insert is
-- idempotent, returning a live link or reviving a soft-deleted one. Another transaction may
-- delete, revive or insert the link between those steps (a revive that meets a link inserted
-- meanwhile gives way to it), so they are tried again; when no attempt settles it, a plain
-- INSERT raises PostgreSQL's own unique violation, which names the constraint.
CREATE FUNCTION softview_internal.view_trigger_source(rel regclass, view_rel regclass) RETURNS text
LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE
    table_name text := softview_internal.qualified_name(rel);
    soft_deletable boolean := (SELECT t.soft_deletable FROM softview_internal.tables t WHERE t.relation = rel);
    key name[] := softview_internal.primary_key(rel);
    key_operators text[] := softview_internal.primary_key_operators(rel);
    key_list text := (SELECT string_agg(quote_ident(c), ', ') FROM unnest(key) AS c);
    view_columns text := (SELECT string_agg(quote_ident(c), ', ') FROM softview_internal.columns(view_rel) AS c);
    insert_columns name[] := softview_internal.writable_columns(view_rel, rel, false);
    update_columns name[] := softview_internal.writable_columns(view_rel, rel, true);
    insert_into text;
    new_values text;
    parents_live text[] := '{}';
    self_live text[] := '{}';
    parent_checks text := '';
    lock_from text[] := '{}';
    lock_match text[] := '{}';
    link_columns name[];
    link_match text;
    fk record;
    on_delete text;
    on_insert text;
    on_update text;
BEGIN
    on_delete := CASE WHEN soft_deletable
        THEN format('UPDATE %s SET deleted_at = pg_catalog.now() WHERE %s AND deleted_at IS NULL;',
                    table_name, softview_internal.match_columns('', key, 'OLD', key, key_operators))
        ELSE format('DELETE FROM %s WHERE %s;', table_name,
                    softview_internal.match_columns('', key, 'OLD', key, key_operators))
    END;
    FOR fk IN SELECT * FROM softview_internal.parents(rel) LOOP
        parents_live := parents_live || format('(%s OR EXISTS (SELECT 1 FROM %s p WHERE %s))',
            (SELECT string_agg(format('NEW.%I IS NULL', c), ' OR ') FROM unnest(fk.child_columns) AS c),
            softview_internal.view_name(fk.parent),
            softview_internal.match_columns('p.', fk.parent_columns, 'NEW', fk.child_columns,
                                            softview_internal.foreign_key_operators(rel, fk.constraint_name)));
        parent_checks := parent_checks || softview_internal.parent_check_source(
            rel, fk.constraint_name, fk.parent, fk.child_columns, fk.parent_columns,
            parents_live[cardinality(parents_live)]);
        lock_from := lock_from || format('%s p%s', softview_internal.qualified_name(fk.parent),
                                         cardinality(parents_live));
        lock_match := lock_match || softview_internal.match_columns(
            format('p%s.', cardinality(parents_live)), fk.parent_columns, 'NEW', fk.child_columns,
            softview_internal.foreign_key_operators(rel, fk.constraint_name));
    END LOOP;
    -- A parent row of the table itself must be in its view: not deleted, nor under a deleted
    -- ancestor.
    FOR fk IN SELECT * FROM softview_internal.self_references(rel) LOOP
        self_live := self_live || format('(%s OR EXISTS (SELECT 1 FROM %s p WHERE %s))',
            (SELECT string_agg(format('NEW.%I IS NULL', c), ' OR ') FROM unnest(fk.child_columns) AS c),
            softview_internal.view_name(rel),
            softview_internal.match_columns('p.', fk.parent_columns, 'NEW', fk.child_columns,
                                            softview_internal.foreign_key_operators(rel, fk.constraint_name)));
        parent_checks := parent_checks || softview_internal.parent_check_source(
            rel, fk.constraint_name, fk.parent, fk.child_columns, fk.parent_columns,
            self_live[cardinality(self_live)]);
    END LOOP;
    insert_into := format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE', table_name,
        (SELECT string_agg(quote_ident(c), ', ') FROM unnest(insert_columns) AS c));
    new_values := (SELECT string_agg(format('NEW.%I', c), ', ') FROM unnest(insert_columns) AS c);
    IF cardinality(parents_live) >= 2 THEN
        link_columns := array(SELECT c FROM softview_internal.parents(rel) AS p, unnest(p.child_columns) AS c);
        link_match := softview_internal.match_columns('', link_columns, 'NEW', link_columns,
            array(SELECT o FROM softview_internal.parents(rel) AS p,
                                unnest(softview_internal.foreign_key_operators(rel, p.constraint_name, true)) AS o));
        on_insert := format($link$-- The parents' key locks (those the foreign keys take) before any link is written
        -- or waited for: a parent's delete locks the parent, then its links, and this waits
        -- for it rather than holding a link it needs.
        PERFORM FROM %s WHERE %s FOR KEY SHARE;
        %s
            SELECT %s WHERE %s%s
            ON CONFLICT DO NOTHING RETURNING %s INTO written;
        IF FOUND THEN NEW := written; RETURN NEW; END IF;%s
        FOR attempt IN 1..3 LOOP%s
            %s VALUES (%s) ON CONFLICT DO NOTHING RETURNING %s INTO written;
            IF FOUND THEN NEW := written; RETURN NEW; END IF;
            SELECT %s INTO written FROM %s WHERE %s%s FOR SHARE;
            IF FOUND THEN NEW := written; RETURN NEW; END IF;
        END LOOP;
        %s VALUES (%s) RETURNING %s INTO written;$link$,
            array_to_string(lock_from, ', '), array_to_string(lock_match, ' AND '),
            insert_into, new_values, array_to_string(parents_live || self_live, ' AND '),
            CASE WHEN soft_deletable THEN format(' AND NOT EXISTS (SELECT 1 FROM %s WHERE %s AND deleted_at IS NOT NULL)',
                                                 table_name, link_match) ELSE '' END,
            view_columns, parent_checks,
            CASE WHEN soft_deletable THEN format($revive$
            revived := false;
            BEGIN
                UPDATE %s AS t SET deleted_at = NULL
                FROM (SELECT %s FROM %s WHERE %s AND deleted_at IS NOT NULL
                      AND NOT EXISTS (SELECT 1 FROM %s WHERE %s AND deleted_at IS NULL)
                      ORDER BY deleted_at DESC LIMIT 1) AS r
                WHERE %s
                RETURNING %s INTO written;
                revived := FOUND;
            EXCEPTION WHEN unique_violation THEN
                -- A live link committed while this one was revived: the steps below return it.
            END;
            IF revived THEN NEW := written; RETURN NEW; END IF;$revive$,
                table_name, key_list, table_name, link_match, table_name, link_match,
                softview_internal.match_columns('t.', key, 'r', key, key_operators),
                (SELECT string_agg(format('t.%I', c), ', ') FROM softview_internal.columns(view_rel) AS c))
            ELSE '' END,
            insert_into, new_values, view_columns,
            view_columns, table_name, link_match, CASE WHEN soft_deletable THEN ' AND deleted_at IS NULL' ELSE '' END,
            insert_into, new_values, view_columns);
    ELSIF cardinality(parents_live) = 1 OR cardinality(self_live) > 0 THEN
        on_insert := format($child$%s
            SELECT %s WHERE %s
            RETURNING %s INTO written;
        IF NOT FOUND THEN%s
            %s VALUES (%s) RETURNING %s INTO written;
        END IF;$child$,
            insert_into, new_values, array_to_string(parents_live || self_live, ' AND '), view_columns,
            replace(parent_checks, E'\n', E'\n    '),
            insert_into, new_values, view_columns);
    ELSE
        on_insert := format('%s VALUES (%s) RETURNING %s INTO written;', insert_into, new_values, view_columns);
    END IF;
    on_update := format($update$%s
        UPDATE %s SET %s WHERE %s RETURNING %s INTO written;
        IF NOT FOUND THEN RETURN NULL; END IF;$update$,
        parent_checks, table_name,
        (SELECT string_agg(format('%I = NEW.%I', c, c), ', ') FROM unnest(update_columns) AS c),
        softview_internal.match_columns('', key, 'OLD', key, key_operators), view_columns);
    RETURN format($function$#variable_conflict use_column
DECLARE
    written record;
    revived boolean;
BEGIN
    IF TG_OP = 'DELETE' THEN
        %s
        RETURN OLD;
    END IF;
    IF TG_OP = 'INSERT' THEN
        %s
    ELSE%s
    END IF;
    NEW := written;
    RETURN NEW;
END$function$,
        on_delete, on_insert, on_update);
END
$$;

-- The archive: hard deletes copied with who and why, restores from it, pruning.

-- An event for channel `softview`. PostgreSQL refuses NOTIFY payloads of 8000 bytes or more,
-- which would fail the delete itself; a key longer than 7000 bytes as JSON goes out as null
-- (the table, the operation and the transaction still say what to re-read), and so does the
-- key of a table whose events leave keys out (softview.set_event_keys). One expression, so
-- that PostgreSQL inlines it into the triggers' statements.
CREATE FUNCTION softview_internal.event_payload(table_name text, key jsonb, operation text) RETURNS text
LANGUAGE sql AS $$
    SELECT json_build_object('table', table_name,
                             'key', CASE WHEN octet_length(key::text) <= 7000 THEN key END,
                             'operation', operation, 'at', clock_timestamp(),
                             'transaction', pg_current_xact_id()::text::bigint)::text
$$;

-- The event for a statement that hard-deleted `row_count` rows of a table at once, more than
-- softview.max_row_events: the key is null, and softview.event_rows (or the archive, by
-- transaction_id) says which rows.
CREATE FUNCTION softview_internal.summary_payload(table_name text, operation text, row_count bigint) RETURNS text
LANGUAGE sql AS $$
    SELECT json_build_object('table', table_name, 'key', NULL, 'operation', operation,
                             'at', clock_timestamp(), 'transaction', pg_current_xact_id()::text::bigint,
                             'rows', row_count)::text
$$;

-- The statement-level trigger that archives hard-deleted rows: one INSERT per statement, in
-- static SQL so that its plan is cached. It runs as the toolkit's owner, the only role that
-- writes the archive, so it trusts no argument: the table it archives for, its name and key
-- come from the catalog by the table the trigger fired on (a partition stands for its enabled
-- partitioned table). It records the roles of the deleting session beside its actor. A row
-- counts as purged when softview.purge_batch set softview.purge_age and the row had been
-- deleted for longer than that: a DELETE of live rows is never reported as a purge. Each row
-- is announced, unless the statement deleted more than softview.max_row_events rows (100
-- unless set): then one summary event per operation says how many. During a purge it adds what
-- it archived to softview.purge_archived, the purge's counts per table.
CREATE FUNCTION softview_internal.archive_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    enabled record;
    table_name text;
    key_columns name[];
    key_path text[];
    -- The table's columns outside a composite key, which its rows' keys leave out.
    other_columns text[];
    actor text := softview_internal.current_actor();
    reason text := softview_internal.current_reason();
    deleting_role text := softview_internal.caller();
    purge_age interval := nullif(current_setting('softview.purge_age', true), '')::interval;
    max_row_events bigint := coalesce(nullif(current_setting('softview.max_row_events', true), '')::bigint, 100);
    archived bigint;
    purge_counts jsonb;
    -- Once per statement, not per row as the columns' defaults and session_user would be:
    -- 0.3 µs a row of a bulk delete.
    login_role text := session_user;
    transaction_id bigint := pg_current_xact_id()::text::bigint;
BEGIN
    -- This runs per statement, so it reads the toolkit's catalog directly: its helper functions
    -- pin their search path, which keeps PostgreSQL from inlining them, and each call would plan
    -- their query again (0.2 ms a statement). The common case is one index probe, the trigger
    -- having fired on the enabled table itself, whose name the trigger's own data gives; a
    -- partition stands for its enabled partitioned table.
    SELECT t.relation, t.require_actor, t.event_keys, t.key_columns INTO enabled
    FROM softview_internal.tables t WHERE t.relation = TG_RELID;
    IF FOUND THEN
        table_name := format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME);
    ELSE
        SELECT t.relation, t.require_actor, t.event_keys, t.key_columns,
               format('%I.%I', n.nspname, c.relname) AS table_name
        INTO enabled
        FROM softview_internal.tables t
        JOIN pg_class c ON c.oid = t.relation
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE t.relation = pg_partition_root(TG_RELID);
        IF NOT FOUND THEN
            -- A partition detached from its enabled table, or a trigger attached by hand to a
            -- table softview did not enable: nothing of it belongs in the archive.
            RAISE WARNING 'softview archives nothing for %: it is not (part of) an enabled table', TG_RELID::regclass
                USING HINT = format('DROP TRIGGER softview_archive ON %s', TG_RELID::regclass);
            RETURN NULL;
        END IF;
        table_name := enabled.table_name;
    END IF;
    -- Stored by enable and refresh: looking it up in pg_index took 25 µs a statement.
    key_columns := enabled.key_columns;
    key_path := key_columns[1:1];
    -- Two IFs: with the EXISTS in the same condition, every statement ran that condition as a
    -- query of its own (1.5 µs), not as the simple expression it is without it.
    IF actor IS NULL AND enabled.require_actor THEN
        IF EXISTS (SELECT 1 FROM gone) THEN
            RAISE EXCEPTION 'actor required: %', table_name
                USING ERRCODE = 'SV002',
                      DETAIL = 'Hard deletes from this table need softview.actor.',
                      HINT = 'set it in the deleting transaction: SELECT set_config(''softview.actor'', ''name'', true)';
        END IF;
    END IF;
    -- Per row, only what differs, and no subquery: a statement holding one sets it up on every
    -- run, used or not (3 µs a statement). A one-column key (the common case) is built by jsonb_set
    -- on an empty object, which costs less than jsonb_build_object; a composite one by removing
    -- the other columns from the row.
    IF cardinality(key_columns) > 1 THEN
        other_columns := ARRAY(SELECT a.attname::text FROM pg_attribute a
                               WHERE a.attrelid = TG_RELID AND a.attnum > 0 AND NOT a.attisdropped
                                 AND a.attname <> ALL (key_columns));
    END IF;
    INSERT INTO softview.deleted_records (table_name, primary_key, row_data, actor, reason,
                                          table_oid, database_role, session_role, purged,
                                          transaction_id)
    SELECT table_name,
           CASE WHEN other_columns IS NULL THEN jsonb_set('{}', key_path, r -> key_path[1])
                ELSE r - other_columns END,
           r, actor, reason, enabled.relation, deleting_role, login_role,
           CASE WHEN purge_age IS NOT NULL THEN coalesce((r ->> 'deleted_at')::timestamptz < now() - purge_age, false)
                ELSE false END,
           transaction_id
    -- OFFSET 0 keeps the subquery whole: pulled up, each use of r would convert the row again.
    FROM (SELECT to_jsonb(g) AS r FROM gone AS g OFFSET 0) AS deleted;
    GET DIAGNOSTICS archived = ROW_COUNT;
    IF purge_age IS NOT NULL THEN
        -- A purge's count of what it archived, per table (the batch's own rows and its
        -- cascades), which softview::purge reports: the archive has no index that finds a
        -- transaction's newest rows without reading every range VACUUM has not summarized.
        purge_counts := coalesce(nullif(current_setting('softview.purge_archived', true), ''), '{}')::jsonb;
        PERFORM set_config('softview.purge_archived',
            jsonb_set(purge_counts, ARRAY[table_name],
                      to_jsonb(coalesce((purge_counts ->> table_name)::bigint, 0) + archived))::text, true);
    END IF;
    IF archived > max_row_events AND purge_age IS NULL THEN
        PERFORM pg_notify('softview', softview_internal.summary_payload(table_name, 'hard_delete', archived));
        RETURN NULL;
    ELSIF archived > max_row_events THEN
        PERFORM pg_notify('softview', softview_internal.summary_payload(table_name, operation, count(*)))
        FROM (SELECT CASE WHEN (to_jsonb(g) ->> 'deleted_at')::timestamptz < now() - purge_age
                          THEN 'purge' ELSE 'hard_delete' END AS operation
              FROM gone AS g) AS deleted
        GROUP BY operation;
        RETURN NULL;
    END IF;
    -- A statement of its own: announcing from the INSERT's RETURNING cost twice as much. The
    -- key and operation are computed in a subquery so that event_payload gets plain columns and
    -- is inlined; given an expression with a subquery it would run as a function of its own.
    -- The common case, a one-column key outside a purge, has a statement of its own without
    -- the cases: 4 µs less a statement.
    IF enabled.event_keys AND cardinality(key_columns) = 1 AND purge_age IS NULL THEN
        PERFORM pg_notify('softview', softview_internal.event_payload(table_name, key, 'hard_delete'))
        FROM (SELECT jsonb_set('{}', key_path, to_jsonb(g) -> key_path[1]) AS key FROM gone AS g OFFSET 0) AS events;
        RETURN NULL;
    END IF;
    PERFORM pg_notify('softview', softview_internal.event_payload(table_name, key, operation))
    FROM (SELECT CASE WHEN NOT enabled.event_keys THEN NULL
                      WHEN other_columns IS NULL THEN jsonb_set('{}', key_path, r -> key_path[1])
                      ELSE r - other_columns END AS key,
                 CASE WHEN purge_age IS NOT NULL AND (r ->> 'deleted_at')::timestamptz < now() - purge_age
                      THEN 'purge' ELSE 'hard_delete' END AS operation
          FROM (SELECT to_jsonb(g) AS r FROM gone AS g OFFSET 0) AS deleted
          OFFSET 0) AS events;
    RETURN NULL;
END
$$;

-- Announces a soft delete or a restore (a change of deleted_at) on channel `softview`: the first
-- softview.max_row_events of each kind in a statement one by one, the rest in one summary event
-- that announce_soft_summary sends when the statement ends. TG_ARGV: the table's name, its key
-- columns and the name of the statement's counts (transaction-local settings, which a
-- rolled-back subtransaction takes back with its events). A trigger made by revision 3, without
-- that name, announces every row.
CREATE FUNCTION softview_internal.announce_soft_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    key_columns text[] := TG_ARGV[1]::text[];
    operation text := CASE WHEN NEW.deleted_at IS NULL THEN 'restore' ELSE 'soft_delete' END;
    counted text := 'softview.announced_' || operation || '_' || TG_ARGV[2];
    announced bigint;
    -- A variable, not an argument expression: event_payload is inlined only for simple arguments.
    key jsonb;
BEGIN
    IF TG_NARGS > 2 THEN
        announced := coalesce(nullif(current_setting(counted, true), '')::bigint, 0) + 1;
        PERFORM set_config(counted, announced::text, true);
        IF announced > coalesce(nullif(current_setting('softview.max_row_events', true), '')::bigint, 100) THEN
            RETURN NULL;
        END IF;
    END IF;
    -- This runs for every row: a one-column key (the common case) without a query.
    IF cardinality(key_columns) = 1 THEN
        key := jsonb_build_object(key_columns[1], to_jsonb(NEW) -> key_columns[1]);
    ELSIF cardinality(key_columns) > 1 THEN
        key := (SELECT jsonb_object_agg(k, to_jsonb(NEW) -> k) FROM unnest(key_columns) AS k);
    END IF;
    PERFORM pg_notify('softview', softview_internal.event_payload(TG_ARGV[0], key, operation));
    RETURN NULL;
END
$$;

-- The name of `rel`'s counts of announced changes, for its two announcing triggers: a setting
-- name needs plain characters, which a table's name may not have.
CREATE FUNCTION softview_internal.announced_counts(rel regclass) RETURNS text
LANGUAGE sql STABLE STRICT AS $$
    SELECT 't' || left(md5(softview_internal.qualified_name(rel)), 16)
$$;

-- At the end of each statement that sets deleted_at, one summary event per kind of change for
-- the rows announce_soft_change left out (their count; softview.event_rows, or the rows'
-- xmin, says which), and the counts start again. TG_ARGV: the table's name and its counts'.
CREATE FUNCTION softview_internal.announce_soft_summary() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    max_row_events bigint := coalesce(nullif(current_setting('softview.max_row_events', true), '')::bigint, 100);
    operation text;
    counted text;
    announced bigint;
BEGIN
    FOREACH operation IN ARRAY ARRAY['soft_delete', 'restore'] LOOP
        counted := 'softview.announced_' || operation || '_' || TG_ARGV[1];
        announced := nullif(current_setting(counted, true), '')::bigint;
        IF announced > max_row_events THEN
            PERFORM pg_notify('softview', softview_internal.summary_payload(TG_ARGV[0], operation,
                                                                            announced - max_row_events));
        END IF;
        IF announced IS NOT NULL THEN
            PERFORM set_config(counted, '', true);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

-- Records what an ON DELETE SET NULL or SET DEFAULT foreign key (TG_ARGV[0]) changed in a row
-- of the referencing table, when a delete of the referenced row (an enabled table's) fired it:
-- install_archive attaches it to fire only from within another trigger (the referential action),
-- when the referencing columns change. It writes as the toolkit's owner, the row's key and
-- its columns before and after, for restore_transaction to put back.
CREATE FUNCTION softview_internal.record_changed_reference() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    referencing smallint[] := (SELECT c.conkey FROM pg_constraint c
                               WHERE c.conrelid = TG_RELID AND c.conname = TG_ARGV[0]);
    old_row jsonb := to_jsonb(OLD);
    new_row jsonb := to_jsonb(NEW);
BEGIN
    -- This runs for every row the referential action changes, so the lookups are written out:
    -- the toolkit's helper functions, never inlined, would plan their queries again each row.
    INSERT INTO softview.changed_references (table_oid, table_name, primary_key, constraint_name,
                                             old_values, new_values, database_role)
    SELECT TG_RELID, format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME),
           (SELECT jsonb_object_agg(a.attname, old_row -> a.attname)
            FROM pg_index i
            CROSS JOIN LATERAL unnest(i.indkey) AS k(attnum)
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
            WHERE i.indrelid = TG_RELID AND i.indisprimary),
           TG_ARGV[0],
           (SELECT jsonb_object_agg(a.attname, old_row -> a.attname)
            FROM unnest(referencing) AS k(attnum) JOIN pg_attribute a ON a.attrelid = TG_RELID AND a.attnum = k.attnum),
           (SELECT jsonb_object_agg(a.attname, new_row -> a.attname)
            FROM unnest(referencing) AS k(attnum) JOIN pg_attribute a ON a.attrelid = TG_RELID AND a.attnum = k.attnum),
           softview_internal.caller();
    RETURN NULL;
END
$$;

-- The trigger name for foreign key `constraint_name`'s changes (see record_changed_reference):
-- constraint names are unique per table, and may be long.
CREATE FUNCTION softview_internal.reference_trigger_name(constraint_name name) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT 'softview_reference_' || left(md5(constraint_name), 12)
$$;

-- TRUNCATE removes rows without DELETE triggers, so it would skip the archive, the required
-- actor and the events: it is refused unless the session says, with softview.allow_truncate,
-- that skipping them is what it wants.
CREATE FUNCTION softview_internal.refuse_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('softview.allow_truncate', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION 'cannot truncate %: softview archives every row removed from it', TG_ARGV[0]
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'DELETE archives the rows, softview.purge_batch removes deleted ones in batches; '
                         'SET softview.allow_truncate = on truncates without the archive';
    END IF;
    RETURN NULL;
END
$$;

-- The triggers on the base table: the archive of hard deletes, the refusal of TRUNCATE, and
-- the announcements. A DELETE or TRUNCATE that names a partition fires that partition's
-- statement triggers, not the partitioned table's, so every partition gets both as well,
-- archiving under the partitioned table's name; a partition attached later gets them at the
-- next softview.refresh. The announcement is a row trigger, which PostgreSQL copies to every
-- partition, present and future.
CREATE FUNCTION softview_internal.install_archive(rel regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    target regclass;
    fk record;
BEGIN
    PERFORM softview_internal.store_key_columns(rel);
    FOR target IN SELECT rel UNION SELECT relid FROM pg_partition_tree(rel) LOOP
        EXECUTE format('CREATE OR REPLACE TRIGGER softview_truncate BEFORE TRUNCATE ON %s
                        FOR EACH STATEMENT EXECUTE FUNCTION softview_internal.refuse_truncate(%L)',
            softview_internal.qualified_name(target), softview_internal.qualified_name(target));
        EXECUTE format('CREATE OR REPLACE TRIGGER softview_archive AFTER DELETE ON %s
                        REFERENCING OLD TABLE AS gone
                        FOR EACH STATEMENT EXECUTE FUNCTION softview_internal.archive_deleted()',
            softview_internal.qualified_name(target));
    END LOOP;
    -- Foreign keys that null or default their columns when a row of `rel` is deleted: their
    -- tables record what changed, for undo. A table of another owner, or without a primary
    -- key, is named in a NOTICE instead.
    FOR fk IN
        SELECT c.conrelid::regclass AS referencing, c.conname,
               softview_internal.column_names(c.conrelid, c.conkey) AS columns
        FROM pg_constraint c
        WHERE c.contype = 'f' AND c.confrelid = rel AND c.confdeltype IN ('n', 'd') AND c.conparentid = 0
    LOOP
        IF cardinality(softview_internal.primary_key(fk.referencing)) = 0 THEN
            RAISE NOTICE 'restoring rows of % will not put back the references of % through %: it has no primary key',
                         softview_internal.qualified_name(rel), fk.referencing, fk.conname;
            CONTINUE;
        END IF;
        BEGIN
            EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER UPDATE OF %s ON %s FOR EACH ROW
                            WHEN (pg_catalog.pg_trigger_depth() OPERATOR(pg_catalog.>) 0 AND (%s) IS DISTINCT FROM (%s))
                            EXECUTE FUNCTION softview_internal.record_changed_reference(%L)',
                softview_internal.reference_trigger_name(fk.conname),
                (SELECT string_agg(quote_ident(c), ', ') FROM unnest(fk.columns) AS c),
                softview_internal.qualified_name(fk.referencing),
                (SELECT string_agg(format('OLD.%I', c), ', ') FROM unnest(fk.columns) AS c),
                (SELECT string_agg(format('NEW.%I', c), ', ') FROM unnest(fk.columns) AS c),
                fk.conname);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'restoring rows of % will not put back the references of % through %: only its owner can record them',
                         softview_internal.qualified_name(rel), fk.referencing, fk.conname
                USING HINT = format('its owner runs SELECT softview.refresh(%L)', softview_internal.qualified_name(rel));
        END;
    END LOOP;
    IF (SELECT soft_deletable FROM softview_internal.tables WHERE relation = rel) THEN
        EXECUTE format('CREATE OR REPLACE TRIGGER softview_announce AFTER UPDATE OF deleted_at ON %s
                        FOR EACH ROW
                        WHEN ((OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL))
                        EXECUTE FUNCTION softview_internal.announce_soft_change(%L, %L, %L)',
            softview_internal.qualified_name(rel), softview_internal.qualified_name(rel),
            -- Without key columns the event's key is null.
            CASE WHEN (SELECT event_keys FROM softview_internal.tables WHERE relation = rel)
                 THEN softview_internal.primary_key(rel) ELSE '{}' END::text,
            softview_internal.announced_counts(rel));
        -- An UPDATE naming a partition fires that partition's statement triggers, not its
        -- table's; the row trigger above is copied to every partition by PostgreSQL.
        FOR target IN SELECT rel UNION SELECT relid FROM pg_partition_tree(rel) LOOP
            EXECUTE format('CREATE OR REPLACE TRIGGER softview_announce_summary AFTER UPDATE OF deleted_at ON %s
                            FOR EACH STATEMENT EXECUTE FUNCTION softview_internal.announce_soft_summary(%L, %L)',
                softview_internal.qualified_name(target), softview_internal.qualified_name(rel),
                softview_internal.announced_counts(rel));
        END LOOP;
    END IF;
END
$$;

-- Stores the columns of `rel`'s primary key in the catalog for the archive trigger, which reads
-- them on every statement. install_archive calls it, so softview.enable and softview.refresh
-- do: after changing a table's primary key, refresh the table.
CREATE FUNCTION softview_internal.store_key_columns(rel regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    current_key name[] := softview_internal.primary_key(rel);
BEGIN
    PERFORM softview_internal.require_owner(rel, 'refresh it');
    UPDATE softview_internal.tables SET key_columns = current_key
    WHERE relation = rel AND key_columns IS DISTINCT FROM current_key;
END
$$;

-- Keeps the triggers of partitioned tables on their partitions as partitions come and go
-- (CREATE TABLE … PARTITION OF, ALTER TABLE … ATTACH or DETACH PARTITION): a DELETE naming a
-- new partition is archived at once, one naming a detached one no longer is. It runs as the
-- role that changed the table, who owns it. Only a superuser can create the event trigger
-- that calls it; without it, softview.refresh does the same.
CREATE FUNCTION softview_internal.follow_partitions() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
    enabled regclass;
    stale record;
BEGIN
    FOR enabled IN
        SELECT DISTINCT t.relation
        FROM pg_event_trigger_ddl_commands() AS d
        CROSS JOIN LATERAL pg_partition_ancestors(d.objid) AS a(relid)
        JOIN softview_internal.tables t ON t.relation = a.relid
        WHERE d.classid = 'pg_class'::regclass
          AND (SELECT relkind FROM pg_class WHERE oid = t.relation) = 'p'
    LOOP
        PERFORM softview_internal.install_archive(enabled);
    END LOOP;
    FOR stale IN
        SELECT tr.tgrelid::regclass AS relation, tr.tgname
        FROM pg_trigger tr
        WHERE tr.tgname IN ('softview_archive', 'softview_truncate', 'softview_announce_summary')
          AND tr.tgfoid IN ('softview_internal.archive_deleted()'::regprocedure,
                            'softview_internal.refuse_truncate()'::regprocedure,
                            'softview_internal.announce_soft_summary()'::regprocedure)
          AND NOT EXISTS (SELECT 1 FROM softview_internal.tables t
                          WHERE t.relation = tr.tgrelid
                             OR t.relation IN (SELECT relid FROM pg_partition_ancestors(tr.tgrelid)))
    LOOP
        BEGIN
            EXECUTE format('DROP TRIGGER %I ON %s', stale.tgname, stale.relation);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE WARNING 'softview archives nothing for % any more; its owner may drop trigger %',
                          stale.relation, stale.tgname;
        END;
    END LOOP;
END
$$;

-- Whether the events of `rel` carry the keys of its rows. Channel `softview` reaches every
-- role that can connect; without keys an event says only the table, the operation and the
-- transaction, and softview.event_rows tells a listener the rest with its own rights.
CREATE FUNCTION softview.set_event_keys(rel regclass, shown boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM softview_internal.store_table_flag(rel, 'event_keys', shown);
    PERFORM softview_internal.install_archive(rel);
END
$$;

-- Whether the view of `rel`, a table that refers to itself, hides the descendants of deleted
-- and hidden rows (the default). Off, its view reads like any other table's, without walking
-- up each row's ancestors (docs/benchmarks.md: a list page 3.4x, a key lookup 1.9x at depth
-- 10), and only a write under a deleted or hidden parent row itself is refused.
CREATE FUNCTION softview.set_hide_descendants(rel regclass, hidden boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM softview_internal.store_table_flag(rel, 'hide_descendants', hidden);
    PERFORM softview.refresh(rel);
END
$$;

-- Sets one of a table's yes-or-no settings, for its owner.
CREATE FUNCTION softview_internal.store_table_flag(rel regclass, flag text, value boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF value IS NULL THEN
        RAISE EXCEPTION 'invalid setting: % takes true or false, not NULL', flag
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM softview_internal.require_enabled(rel);
    PERFORM softview_internal.require_owner(rel, 'change its settings');
    UPDATE softview_internal.tables
    SET event_keys = CASE WHEN flag = 'event_keys' THEN value ELSE event_keys END,
        hide_descendants = CASE WHEN flag = 'hide_descendants' THEN value ELSE hide_descendants END
    WHERE relation = rel;
END
$$;

-- What transaction `transaction` did to rows of `rel`, for a listener of events without keys:
-- the rows it archived (`hard_delete`, `purge`) and, for a soft-deletable table, the rows whose
-- current version it wrote (`deleted` or `live` now: its soft deletes and restores, and any
-- other write). Read with the caller's own rights. The second part reads the whole table:
-- on a large one, re-read what you show instead.
CREATE FUNCTION softview.event_rows(rel regclass, transaction bigint)
RETURNS TABLE (primary_key jsonb, state text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM softview_internal.require_enabled(rel);
    RETURN QUERY
    SELECT d.primary_key, CASE WHEN d.purged THEN 'purge' ELSE 'hard_delete' END
    FROM softview.deleted_records d
    WHERE d.transaction_id = transaction AND d.table_oid = rel
    ORDER BY d.id;
    IF (SELECT soft_deletable FROM softview_internal.tables WHERE relation = rel) THEN
        RETURN QUERY EXECUTE format(
            'SELECT jsonb_build_object(%s), CASE WHEN t.deleted_at IS NULL THEN ''live'' ELSE ''deleted'' END
             FROM %s t WHERE t.xmin = xid($1::text::xid8)',
            (SELECT string_agg(format('%L, t.%I', k, k), ', ') FROM unnest(softview_internal.primary_key(rel)) AS k),
            softview_internal.qualified_name(rel))
        USING transaction;
    END IF;
END
$$;

-- Whether hard deletes of `rel` need softview.actor; the archive trigger reads it each time.
CREATE FUNCTION softview.require_actor(rel regclass, required boolean DEFAULT true) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF required IS NULL THEN
        RAISE EXCEPTION 'invalid setting: require_actor takes true or false, not NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM softview_internal.require_enabled(rel);
    PERFORM softview_internal.require_owner(rel, 'change its settings');
    UPDATE softview_internal.tables SET require_actor = required WHERE relation = rel;
END
$$;

-- Why an archived row cannot go back into its table as it is now, one row per problem.
CREATE FUNCTION softview.archive_drift(archive_id bigint)
RETURNS TABLE (column_name text, problem text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    archived softview.deleted_records;
    rel regclass;
    field record;
BEGIN
    SELECT * INTO archived FROM softview.deleted_records WHERE id = archive_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'row not found: softview.deleted_records'
            USING ERRCODE = 'no_data_found', DETAIL = format('Key (id)=(%s).', archive_id);
    END IF;
    IF softview_internal.table_exists(archived.table_oid) THEN
        rel := archived.table_oid;
    END IF;
    IF rel IS NULL THEN
        column_name := NULL;
        problem := format('table %s no longer exists', archived.table_name);
        RETURN NEXT;
        RETURN;
    END IF;
    FOR field IN SELECT key, value FROM jsonb_each(archived.row_data) LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_attribute
                       WHERE attrelid = rel AND attname = field.key AND attnum > 0 AND NOT attisdropped) THEN
            column_name := field.key;
            problem := 'the column no longer exists';
            RETURN NEXT;
            CONTINUE;
        END IF;
        BEGIN
            EXECUTE format('SELECT (jsonb_populate_record(NULL::%s, jsonb_build_object(%L, $1))).%I',
                           softview_internal.qualified_name(rel), field.key, field.key)
            USING field.value;
        EXCEPTION WHEN OTHERS THEN
            column_name := field.key;
            problem := format('the value %s does not fit type %s (%s)', field.value,
                (SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                 WHERE attrelid = rel AND attname = field.key), SQLERRM);
            RETURN NEXT;
        END;
    END LOOP;
    FOR field IN
        SELECT a.attname FROM pg_attribute a
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull
          AND d.adbin IS NULL AND a.attidentity = '' AND a.attgenerated = ''
          AND NOT archived.row_data ? a.attname
    LOOP
        column_name := field.attname;
        problem := 'the column is NOT NULL without a default and the archived row has no value for it';
        RETURN NEXT;
    END LOOP;
END
$$;

-- Raises SV003, naming the column, when an archived row no longer fits its table.
CREATE FUNCTION softview_internal.check_archive_drift(archive_id bigint) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
    drift record;
BEGIN
    SELECT * INTO drift FROM softview.archive_drift(archive_id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'archived row no longer fits its table: %',
            (SELECT table_name FROM softview.deleted_records WHERE id = archive_id)
            USING ERRCODE = 'SV003', COLUMN = coalesce(drift.column_name, ''),
                  DETAIL = format('Archived row %s: %s', archive_id,
                                  coalesce(format('column %s: ', drift.column_name), '') || drift.problem);
    END IF;
END
$$;

-- Removes archived row `archive_id` from the archive for a restore, and returns its table and
-- row for the caller to insert, with its own rights, in the same transaction. The caller must
-- be able to read the entry (see may_read_archived) and to insert into its table, which must
-- still be enabled: the archive only ever goes back where it came from. The caller checks
-- that the row still fits (check_archive_drift), with its own USAGE on the table's schema.
CREATE FUNCTION softview_internal.take_archived(archive_id bigint, OUT rel regclass, OUT row_data jsonb)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    archived softview.deleted_records;
BEGIN
    SELECT * INTO archived FROM softview.deleted_records d WHERE d.id = archive_id FOR UPDATE;
    IF NOT FOUND OR NOT softview_internal.may_read_archived(softview_internal.caller(), archived.table_oid,
                                                            archived.database_role) THEN
        RAISE EXCEPTION 'row not found: softview.deleted_records'
            USING ERRCODE = 'no_data_found', DETAIL = format('Key (id)=(%s).', archive_id);
    END IF;
    IF NOT softview_internal.table_exists(archived.table_oid) THEN
        RAISE EXCEPTION 'archived row no longer fits its table: %', archived.table_name
            USING ERRCODE = 'SV003', DETAIL = format('Archived row %s: table %s no longer exists', archive_id, archived.table_name);
    END IF;
    rel := archived.table_oid;
    PERFORM softview_internal.require_enabled(rel);
    IF NOT has_table_privilege(softview_internal.caller(), rel, 'INSERT') THEN
        RAISE EXCEPTION 'permission denied: restoring into % needs INSERT on it', archived.table_name
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Archived row %s; the caller is %s.', archive_id, quote_ident(softview_internal.caller()));
    END IF;
    DELETE FROM softview.deleted_records d WHERE d.id = archive_id;
    row_data := archived.row_data;
END
$$;

-- Puts an archived row back into its table and removes it from the archive; returns the row.
CREATE FUNCTION softview.restore_archived(archive_id bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    taken record;
BEGIN
    PERFORM softview_internal.check_archive_drift(archive_id);
    taken := softview_internal.take_archived(archive_id);
    PERFORM softview_internal.insert_archived(taken.rel, taken.row_data);
    RETURN taken.row_data;
END
$$;

-- Inserts an archived row into `rel` as it was (identity values included), with the caller's
-- rights.
CREATE FUNCTION softview_internal.insert_archived(rel regclass, row_data jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    columns text;
BEGIN
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO columns
    FROM pg_attribute
    WHERE attrelid = rel AND attnum > 0 AND NOT attisdropped AND attgenerated = '' AND row_data ? attname;
    EXECUTE format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM jsonb_populate_record(NULL::%s, $1)',
                   softview_internal.qualified_name(rel), columns, columns, softview_internal.qualified_name(rel))
    USING row_data;
END
$$;

-- How many rows transaction `deleting_transaction` archived that the caller may not read.
CREATE FUNCTION softview_internal.unreadable_in_transaction(deleting_transaction bigint) RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT count(*) FROM softview.deleted_records d
    WHERE d.transaction_id = deleting_transaction
      AND NOT softview_internal.may_read_archived(softview_internal.caller(), d.table_oid, d.database_role)
$$;

-- The columns of `rel`'s foreign keys that may be NULL: what a restore can leave empty and
-- fill in once the rows they refer to are back.
CREATE FUNCTION softview_internal.nullable_reference_columns(rel regclass) RETURNS name[]
LANGUAGE sql STABLE STRICT AS $$
    SELECT array(
        SELECT DISTINCT a.attname
        FROM pg_constraint c
        CROSS JOIN LATERAL unnest(c.conkey) AS k(attnum)
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
        WHERE c.conrelid = rel AND c.contype = 'f' AND softview_internal.column_may_be_null(rel, a.attnum))
$$;

-- Restores every row one transaction deleted; returns how many. Rows go back in dependency
-- order, row by row (a subtask archived before its task goes back after it). A row that still
-- fails its foreign key (keys that compare equal only by their own operator, as citext's) is
-- tried again after the others. Rows that wait for each other go back with deferrable keys
-- checked at the end (the transaction's constraints are all IMMEDIATE afterwards), or with
-- their nullable references cut and filled in last. When nothing moves, the whole restore
-- fails with the foreign-key error of the first row that could not go back, and nothing is
-- restored. A transaction that also deleted rows the caller may not read is
-- restored by nobody but a role that may read them all: half of it would not be the undo of
-- anything.
CREATE FUNCTION softview.restore_transaction(deleting_transaction bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    pending bigint[];
    blocked bigint[];
    archived_id bigint;
    restored bigint := 0;
    restored_before bigint;
    unreadable bigint := softview_internal.unreadable_in_transaction(deleting_transaction);
    failed_message text;
    failed_detail text;
    failed_constraint text;
    failed_table text;
    failed_schema text;
    -- Rows restored with their nullable foreign keys cut, to be filled in at the end.
    cutting boolean := false;
    cut_tables regclass[] := '{}';
    cut_rows jsonb[] := '{}';
    cut_columns name[];
    taken record;
    i integer;
BEGIN
    IF unreadable > 0 THEN
        RAISE EXCEPTION 'permission denied: transaction % archived % row(s) the caller may not read', deleting_transaction, unreadable
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'a role that may read every table the transaction deleted from restores it';
    END IF;
    -- Parents before children, row by row: a row needs another row of the transaction when a
    -- foreign key of its table holds that row's values; each row goes after the longest chain
    -- of rows it needs (cycles are cut at the number of rows), then by table position.
    pending := array(
        WITH RECURSIVE archived AS (
            SELECT d.id, d.table_oid, d.row_data, coalesce(t.position, 9223372036854775807) AS position
            FROM softview.deleted_records d
            LEFT JOIN softview_internal.tables t ON t.relation = d.table_oid
            WHERE d.transaction_id = deleting_transaction
        ),
        needs AS (
            SELECT child.id AS child, parent.id AS parent
            FROM archived child
            JOIN pg_constraint c ON c.contype = 'f' AND c.conrelid = child.table_oid
            JOIN archived parent ON parent.table_oid = c.confrelid AND parent.id <> child.id
            WHERE (SELECT bool_and(child.row_data -> ca.attname::text = parent.row_data -> pa.attname::text)
                   FROM unnest(c.conkey, c.confkey) AS k(child_attnum, parent_attnum)
                   JOIN pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = k.child_attnum
                   JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.parent_attnum)
        ),
        depth (id, level) AS (
            SELECT id, 0 FROM archived
            UNION ALL
            SELECT n.child, d.level + 1 FROM depth d JOIN needs n ON n.parent = d.id
            WHERE d.level < (SELECT count(*) FROM archived)
        )
        SELECT a.id FROM archived a JOIN depth d USING (id)
        GROUP BY a.id, a.position
        ORDER BY max(d.level), a.position, a.id);
    IF cardinality(pending) = 0 THEN
        RAISE EXCEPTION 'nothing archived for transaction %', coalesce(deleting_transaction::text, 'NULL')
            USING ERRCODE = 'no_data_found',
                  HINT = 'softview.deleted_records.transaction_id names the transactions it holds';
    END IF;
    -- Deferrable foreign keys are checked at the end, so rows referring to each other in a
    -- cycle go back in any order.
    SET CONSTRAINTS ALL DEFERRED;
    LOOP
        blocked := '{}';
        restored_before := restored;
        FOREACH archived_id IN ARRAY pending LOOP
            BEGIN
                IF cutting THEN
                    PERFORM softview_internal.check_archive_drift(archived_id);
                    taken := softview_internal.take_archived(archived_id);
                    cut_columns := softview_internal.nullable_reference_columns(taken.rel);
                    PERFORM softview_internal.insert_archived(taken.rel, taken.row_data
                        || coalesce((SELECT jsonb_object_agg(c, NULL::jsonb) FROM unnest(cut_columns) AS c), '{}'));
                    cut_tables := cut_tables || taken.rel;
                    cut_rows := cut_rows || taken.row_data;
                ELSE
                    PERFORM softview.restore_archived(archived_id);
                END IF;
                restored := restored + 1;
            EXCEPTION WHEN foreign_key_violation THEN
                blocked := blocked || archived_id;
                IF cardinality(blocked) = 1 THEN
                    -- The round's first blocked row: parents come first, so it is the one
                    -- that keeps the others out when nothing moves.
                    GET STACKED DIAGNOSTICS failed_message = MESSAGE_TEXT, failed_detail = PG_EXCEPTION_DETAIL,
                                            failed_constraint = CONSTRAINT_NAME, failed_table = TABLE_NAME,
                                            failed_schema = SCHEMA_NAME;
                END IF;
            END;
        END LOOP;
        EXIT WHEN cardinality(blocked) = 0;
        IF restored = restored_before AND NOT cutting THEN
            -- Rows that wait for each other (a cycle of foreign keys that are not deferrable):
            -- try them with their nullable references cut, filled in once all are back.
            cutting := true;
            pending := blocked;
            CONTINUE;
        END IF;
        IF restored = restored_before THEN
            RAISE EXCEPTION USING MESSAGE = failed_message, ERRCODE = 'foreign_key_violation',
                DETAIL = failed_detail, CONSTRAINT = failed_constraint, TABLE = failed_table,
                SCHEMA = failed_schema,
                HINT = format('archived row %s of transaction %s needs a row that is neither in its table nor among the rows the transaction deleted; nothing was restored',
                              blocked[1], deleting_transaction);
        END IF;
        cutting := false;
        pending := blocked;
    END LOOP;
    FOR i IN 1..cardinality(cut_rows) LOOP
        cut_columns := softview_internal.nullable_reference_columns(cut_tables[i]);
        EXECUTE format('UPDATE %s t SET %s FROM jsonb_populate_record(NULL::%s, $1) AS o WHERE %s',
            softview_internal.qualified_name(cut_tables[i]),
            (SELECT string_agg(format('%I = o.%I', c, c), ', ') FROM unnest(cut_columns) AS c),
            softview_internal.qualified_name(cut_tables[i]),
            softview_internal.match_columns('t.', softview_internal.primary_key(cut_tables[i]), 'o',
                                            softview_internal.primary_key(cut_tables[i]),
                                            softview_internal.primary_key_operators(cut_tables[i])))
        USING cut_rows[i];
    END LOOP;
    SET CONSTRAINTS ALL IMMEDIATE;
    PERFORM softview_internal.restore_references(deleting_transaction);
    RETURN restored;
END
$$;

-- Puts back the references that ON DELETE SET NULL or SET DEFAULT changed in the deleting
-- transaction, with the caller's rights, where the referencing row still holds what the
-- action set; a row changed since is left as it is and named in a NOTICE. The records are
-- forgotten either way.
CREATE FUNCTION softview_internal.restore_references(deleting_transaction bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    change softview.changed_references;
    updated bigint;
BEGIN
    FOR change IN SELECT * FROM softview.changed_references c
                  WHERE c.transaction_id = deleting_transaction ORDER BY c.id LOOP
        CONTINUE WHEN NOT softview_internal.table_exists(change.table_oid);
        EXECUTE format('UPDATE %s t SET %s FROM jsonb_populate_record(NULL::%s, $1) AS o,
                               jsonb_populate_record(NULL::%s, $2) AS k, jsonb_populate_record(NULL::%s, $3) AS n
                        WHERE %s AND %s',
            softview_internal.qualified_name(change.table_oid),
            (SELECT string_agg(format('%I = o.%I', c, c), ', ') FROM jsonb_object_keys(change.old_values) AS c),
            softview_internal.qualified_name(change.table_oid), softview_internal.qualified_name(change.table_oid),
            softview_internal.qualified_name(change.table_oid),
            softview_internal.match_columns('t.', softview_internal.primary_key(change.table_oid), 'k',
                                            softview_internal.primary_key(change.table_oid),
                                            softview_internal.primary_key_operators(change.table_oid)),
            (SELECT string_agg(format('t.%I IS NOT DISTINCT FROM n.%I', c, c), ' AND ')
             FROM jsonb_object_keys(change.new_values) AS c))
        USING change.old_values, change.primary_key, change.new_values;
        GET DIAGNOSTICS updated = ROW_COUNT;
        IF updated = 0 THEN
            RAISE NOTICE 'left % % as it is: it no longer holds what % set when the row it referred to was deleted',
                         change.table_name, change.primary_key, change.constraint_name;
        END IF;
    END LOOP;
    PERFORM softview_internal.forget_changed_references(deleting_transaction);
END
$$;

-- Forgets the reference changes of a transaction that the caller may read (restore_references
-- has dealt with them).
CREATE FUNCTION softview_internal.forget_changed_references(deleting_transaction bigint) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    DELETE FROM softview.changed_references c
    WHERE c.transaction_id = deleting_transaction
      AND softview_internal.may_read_archived(softview_internal.caller(), c.table_oid, c.database_role)
$$;

-- The archive's partitions: one per span of archiving time (a UTC day, an ISO week or a month),
-- created ahead, so that forgetting old rows drops whole partitions. A partition is a plain
-- table in softview_internal that no role but the toolkit's owner may read: every reader goes
-- through softview.deleted_records and its row-level security.

-- The partitions of the archive with the span each takes rows for, read from the catalog (a
-- bound printed in UTC, parsed back in UTC). A bound of MINVALUE reads as NULL; the default
-- partition, for rows no other one takes, has neither bound.
CREATE FUNCTION softview_internal.archive_partition_bounds()
RETURNS TABLE (partition regclass, archived_from timestamptz, archived_until timestamptz, is_default boolean)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' AS $$
    SELECT c.oid::regclass, bound[1]::timestamptz, bound[2]::timestamptz, bound IS NULL
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    CROSS JOIN LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                    $re$FROM \((?:'([^']*)'|MINVALUE)\) TO \('([^']*)'\)$re$) AS bound
    WHERE i.inhparent = 'softview.deleted_records'::regclass
$$;

-- The archive's partitions, oldest first, the default one last.
CREATE VIEW softview.archive_partitions AS
SELECT partition, archived_from, archived_until
FROM softview_internal.archive_partition_bounds()
ORDER BY is_default, archived_until;

-- Creates the partitions that take the rows archived from the end of the newest one until a
-- week from now, each one span of softview_internal.settings.archive_partition_width; a gap
-- since the newest partition (no purge ran for a while) becomes one partition, not one per
-- span. Rows that went to the default partition meanwhile move into the new partition that
-- takes them. Each partition is created alone and attached, which takes no lock that archive
-- writers or readers wait for, except on the default partition; waiting for that longer than
-- lock_timeout (one second here) stops it with a NOTICE, keeping what it made: the next purge
-- pass tries again. While another transaction is adding partitions it adds none. Anyone may
-- call it. Returns how many partitions it created.
CREATE FUNCTION softview.add_archive_partitions() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC'
    SET lock_timeout = '1s' AS $$
DECLARE
    width text := (SELECT s.archive_partition_width FROM softview_internal.settings s);
    current_start timestamptz := date_trunc(width, now());
    horizon timestamptz := now() + interval '7 days';
    lower_bound timestamptz;
    upper_bound timestamptz;
    partition_name text;
    created integer := 0;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('softview.add_archive_partitions')) THEN
        RETURN 0;
    END IF;
    SELECT coalesce(max(b.archived_until), current_start) INTO lower_bound
    FROM softview_internal.archive_partition_bounds() b;
    WHILE lower_bound < horizon LOOP
        upper_bound := CASE WHEN lower_bound < current_start THEN current_start
                            ELSE date_trunc(width, lower_bound) + ('1 ' || width)::interval END;
        partition_name := 'deleted_records_' || to_char(lower_bound, 'YYYYMMDD');
        BEGIN
            EXECUTE format('CREATE TABLE softview_internal.%I (LIKE softview.deleted_records INCLUDING DEFAULTS)',
                           partition_name);
            EXECUTE format(
                'WITH moved AS (DELETE FROM softview_internal.deleted_records_default
                                WHERE archived_at >= $1 AND archived_at < $2 RETURNING *)
                 INSERT INTO softview_internal.%I SELECT * FROM moved', partition_name)
            USING lower_bound, upper_bound;
            EXECUTE format('ALTER TABLE softview.deleted_records ATTACH PARTITION softview_internal.%I FOR VALUES FROM (%L) TO (%L)',
                           partition_name, lower_bound, upper_bound);
        EXCEPTION WHEN lock_not_available THEN
            RAISE NOTICE 'archive partition % not created: the default partition stayed locked; the next purge pass tries again',
                         partition_name;
            RETURN created;
        END;
        created := created + 1;
        lower_bound := upper_bound;
    END LOOP;
    RETURN created;
END
$$;

-- Only the toolkit's owner may call it (EXECUTE is not granted). Partitions created from now on
-- take rows for one `width` ('day', 'week' or 'month') each; existing ones keep their span.
CREATE FUNCTION softview.set_archive_partition_width(width text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF width IS NULL OR width NOT IN ('day', 'week', 'month') THEN
        RAISE EXCEPTION 'invalid setting: an archive partition spans a day, a week or a month, not %',
                        coalesce(quote_literal(width), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE softview_internal.settings SET archive_partition_width = width;
END
$$;

-- Forgets archived rows older than `older_than`. Partitions holding only such rows are dropped
-- whole; the rest are deleted from the partition the cut falls in and from the default one.
-- The references their transactions changed go with them: a transaction's archived rows and
-- its changed references carry the time it began, so they are forgotten together.
-- Dropping takes an ACCESS EXCLUSIVE lock on the archive, which is why it comes last: the lock
-- lasts from there to the commit. Only the toolkit's owner may call it (EXECUTE is not
-- granted): it forgets rows of every table. Returns how many rows it forgot.
CREATE FUNCTION softview.prune_archive(older_than interval) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    cutoff timestamptz := now() - softview_internal.checked_age('age to prune from', older_than);
    whole regclass[];
    cut regclass;
    rows_in bigint;
    pruned bigint := 0;
BEGIN
    SELECT coalesce(array_agg(b.partition), '{}') INTO whole
    FROM softview_internal.archive_partition_bounds() b
    WHERE b.archived_until <= cutoff;
    FOREACH cut IN ARRAY whole LOOP
        EXECUTE format('SELECT count(*) FROM %s', cut) INTO rows_in;
        pruned := pruned + rows_in;
    END LOOP;
    FOR cut IN SELECT b.partition FROM softview_internal.archive_partition_bounds() b
               WHERE b.is_default OR (coalesce(b.archived_from < cutoff, true) AND b.archived_until > cutoff) LOOP
        EXECUTE format('DELETE FROM %s WHERE archived_at < $1', cut) USING cutoff;
        GET DIAGNOSTICS rows_in = ROW_COUNT;
        pruned := pruned + rows_in;
    END LOOP;
    DELETE FROM softview.changed_references c WHERE c.recorded_at < cutoff;
    FOREACH cut IN ARRAY whole LOOP
        EXECUTE format('DROP TABLE %s', cut);
    END LOOP;
    RETURN pruned;
END
$$;

SELECT softview.add_archive_partitions();

-- The lifecycle of one row by a text key, for psql and the command line.

-- Row operations by key, for psql and the `softview` command. A key is given as text, one
-- element per primary-key column, and cast to each column's type.
CREATE FUNCTION softview_internal.key_condition(rel regclass, key text[]) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    columns name[] := softview_internal.primary_key(rel);
BEGIN
    PERFORM softview_internal.require_enabled(rel);
    IF cardinality(key) IS DISTINCT FROM cardinality(columns) THEN
        RAISE EXCEPTION 'bad key for %: expected % value(s) for (%), got %', rel,
            cardinality(columns), array_to_string(columns, ', '), coalesce(cardinality(key), 0)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF array_position(key, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'bad key for %: a primary key holds no NULL, got %', rel, key
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    RETURN (SELECT string_agg(format('%I %s %L::%s', c, op, v,
                                     (SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                                      WHERE attrelid = rel AND attname = c)), ' AND ')
            FROM unnest(columns, key, softview_internal.primary_key_operators(rel)) AS u(c, v, op));
END
$$;

-- Why `rel` is not an enabled table, for an error's DETAIL: the commonest slip is naming the
-- view instead of its table.
CREATE FUNCTION softview_internal.why_not_enabled(rel regclass) RETURNS text
LANGUAGE sql STABLE STRICT AS $$
    SELECT CASE
        WHEN made_for.relation IS NOT NULL
            THEN format('It is the view softview made for %s: give the table.',
                        softview_internal.qualified_name(made_for.relation))
        WHEN c.relkind NOT IN ('r', 'p')
            THEN format('It is %s, not a table.',
                        CASE c.relkind WHEN 'v' THEN 'a view' WHEN 'm' THEN 'a materialized view'
                                       WHEN 'S' THEN 'a sequence' WHEN 'f' THEN 'a foreign table'
                                       WHEN 'c' THEN 'a composite type' ELSE 'an index' END)
        ELSE 'softview.enable was not called for it.'
    END
    FROM pg_class c
    LEFT JOIN LATERAL (SELECT t.relation FROM softview_internal.tables t
                       WHERE softview_internal.table_exists(t.relation)
                         AND softview_internal.view_of(t.relation) = rel) AS made_for ON true
    WHERE c.oid = rel
$$;

CREATE FUNCTION softview_internal.require_enabled(rel regclass) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM softview_internal.checked_table(rel);
    IF NOT EXISTS (SELECT 1 FROM softview_internal.tables WHERE relation = rel) THEN
        RAISE EXCEPTION 'table is not enabled for softview: %', softview_internal.qualified_name(rel)
            USING ERRCODE = 'undefined_table', DETAIL = softview_internal.why_not_enabled(rel);
    END IF;
END
$$;

CREATE FUNCTION softview_internal.require_soft_deletable(rel regclass) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM softview_internal.checked_table(rel);
    IF NOT EXISTS (SELECT 1 FROM softview_internal.tables WHERE relation = rel) THEN
        RAISE EXCEPTION 'table is not soft-deletable: %', softview_internal.qualified_name(rel)
            USING ERRCODE = 'wrong_object_type', DETAIL = softview_internal.why_not_enabled(rel);
    END IF;
    IF NOT (SELECT soft_deletable FROM softview_internal.tables WHERE relation = rel) THEN
        RAISE EXCEPTION 'table is not soft-deletable: %', softview_internal.qualified_name(rel)
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = 'It is enabled as a dependent, without deleted_at: its rows hide with their parents.';
    END IF;
    -- Enabled with deleted_at, which ALTER TABLE … DROP COLUMN may have taken since.
    IF NOT EXISTS (SELECT 1 FROM pg_attribute
                   WHERE attrelid = rel AND attname = 'deleted_at' AND attnum > 0 AND NOT attisdropped) THEN
        RAISE EXCEPTION 'table is not soft-deletable: %', softview_internal.qualified_name(rel)
            USING ERRCODE = 'undefined_column',
                  DETAIL = 'It was enabled with a column deleted_at, which has been dropped since.',
                  HINT = 'add deleted_at timestamptz back and call softview.refresh, or softview.disable the table';
    END IF;
END
$$;

CREATE FUNCTION softview_internal.raise_row_not_found(rel regclass, key text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'row not found: %', softview_internal.qualified_name(rel)
        USING ERRCODE = 'no_data_found',
              DETAIL = format('Key (%s)=(%s).', array_to_string(softview_internal.primary_key(rel), ', '),
                              array_to_string(key, ', '));
END
$$;

-- Soft-deletes one row; a row already deleted keeps its deleted_at. Returns the row as it is
-- when the call returns: deleted, and locked until the end of the transaction.
CREATE FUNCTION softview.soft_delete_row(rel regclass, key text[]) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    condition text := softview_internal.key_condition(rel, key);
    soft_delete text;
    result jsonb;
BEGIN
    PERFORM softview_internal.require_soft_deletable(rel);
    soft_delete := format('UPDATE %s t SET deleted_at = now() WHERE %s AND deleted_at IS NULL RETURNING to_jsonb(t)',
                          softview_internal.qualified_name(rel), condition);
    EXECUTE soft_delete INTO result;
    IF result IS NULL THEN
        -- Not live in the update's snapshot. Lock the row before reading it: a restore that
        -- committed since makes it live again, and then it is deleted now.
        EXECUTE format('SELECT to_jsonb(t) FROM %s t WHERE %s FOR NO KEY UPDATE', softview_internal.qualified_name(rel), condition)
        INTO result;
        IF result IS NOT NULL AND result->>'deleted_at' IS NULL THEN
            EXECUTE soft_delete INTO result;
        END IF;
    END IF;
    IF result IS NULL THEN
        PERFORM softview_internal.raise_row_not_found(rel, key);
    END IF;
    RETURN result;
END
$$;

-- Restores one soft-deleted row. A live or missing row is an error, and so is a unique key
-- now held by a live row (23505, naming the key). Returns the row.
CREATE FUNCTION softview.restore_row(rel regclass, key text[]) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    condition text := softview_internal.key_condition(rel, key);
    result jsonb;
BEGIN
    PERFORM softview_internal.require_soft_deletable(rel);
    -- The lock the UPDATE below takes; FOR UPDATE would also hold up children's foreign key
    -- checks, and with them close deadlocks.
    EXECUTE format('SELECT to_jsonb(t) FROM %s t WHERE %s FOR NO KEY UPDATE', softview_internal.qualified_name(rel), condition)
    INTO result;
    IF result IS NULL THEN
        PERFORM softview_internal.raise_row_not_found(rel, key);
    ELSIF result->>'deleted_at' IS NULL THEN
        RAISE EXCEPTION 'row is not deleted: %', softview_internal.qualified_name(rel)
            USING ERRCODE = 'SV004',
                  DETAIL = format('Key (%s)=(%s).', array_to_string(softview_internal.primary_key(rel), ', '),
                                  array_to_string(key, ', '));
    END IF;
    EXECUTE format('UPDATE %s t SET deleted_at = NULL WHERE %s RETURNING to_jsonb(t)',
                   softview_internal.qualified_name(rel), condition) INTO result;
    RETURN result;
END
$$;

-- Why a stored row of `rel` is not in its view although it is not deleted itself: the first
-- parent row its view does not show, as `public.places (id)=(1)`. NULL when the row is in the
-- view, deleted, or missing. A restore of a child whose parent is deleted succeeds, and this
-- says why the child stays hidden.
CREATE FUNCTION softview.hidden_by(rel regclass, key text[]) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    condition text := softview_internal.key_condition(rel, key);
    p record;
    parent_key text;
BEGIN
    FOR p IN SELECT * FROM softview_internal.parents(rel)
             UNION ALL SELECT * FROM softview_internal.self_references(rel) LOOP
        EXECUTE format('SELECT format(%L, concat_ws(%L, %s)) FROM %s t
                        WHERE %s AND NOT (%s) AND NOT EXISTS (SELECT 1 FROM %s v WHERE %s)',
            format('(%s)=(%%s)', (SELECT string_agg(quote_ident(c), ', ') FROM unnest(p.parent_columns) AS c)),
            ', ',
            (SELECT string_agg(format('t.%I', c), ', ') FROM unnest(p.child_columns) AS c),
            softview_internal.qualified_name(rel),
            condition,
            (SELECT string_agg(format('t.%I IS NULL', c), ' OR ') FROM unnest(p.child_columns) AS c),
            softview_internal.view_name(p.parent),
            softview_internal.match_columns('v.', p.parent_columns, 't', p.child_columns,
                                            softview_internal.foreign_key_operators(rel, p.constraint_name)))
        INTO parent_key;
        IF parent_key IS NOT NULL THEN
            RETURN format('%s %s', softview_internal.qualified_name(p.parent), parent_key);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

-- Deletes one row for good (the archive trigger keeps a copy). Returns the row.
CREATE FUNCTION softview.hard_delete_row(rel regclass, key text[]) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    result jsonb;
BEGIN
    EXECUTE format('DELETE FROM %s t WHERE %s RETURNING to_jsonb(t)',
                   softview_internal.qualified_name(rel), softview_internal.key_condition(rel, key)) INTO result;
    IF result IS NULL THEN
        PERFORM softview_internal.raise_row_not_found(rel, key);
    END IF;
    RETURN result;
END
$$;

-- The deleted rows of a table, newest first, with when a purge will remove them.
CREATE FUNCTION softview.trash(rel regclass)
RETURNS TABLE (primary_key jsonb, deleted_at timestamptz, purge_at timestamptz, row_data jsonb)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM softview_internal.require_soft_deletable(rel);
    RETURN QUERY EXECUTE format(
        'SELECT jsonb_build_object(%s), t.deleted_at, t.deleted_at + $1, to_jsonb(t) FROM %s t
         WHERE t.deleted_at IS NOT NULL ORDER BY t.deleted_at DESC',
        (SELECT string_agg(format('%L, t.%I', k, k), ', ') FROM unnest(softview_internal.primary_key(rel)) AS k),
        softview_internal.qualified_name(rel))
    USING softview.grace_period(rel);
END
$$;


-- What an admin screen needs: pages of a table's stored rows, deleted ones included, and what
-- an action on one row would do before it is done.

-- A page of `rel`'s stored rows in primary-key order, after the key `after` (NULL for the
-- first page): those its view shows (`live`), those deleted (`deleted`: deleted themselves; for
-- a dependent table, hidden with a parent) or `all`. Each row comes with its key as text (what
-- the row functions take), its state (`live`, `deleted`, or `hidden` while a parent is deleted)
-- and, when deleted, the time a purge may remove it. The order is the primary key index's own,
-- so a page is one index range whatever the table's size.
CREATE FUNCTION softview.browse(rel regclass, shown text, after text[], page_size integer)
RETURNS TABLE (key text[], row_data jsonb, state text, deleted_at timestamptz, purge_at timestamptz)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    columns name[] := softview_internal.primary_key(rel);
    soft_deletable boolean;
    in_view text;
    conditions text[] := '{}';
    later text;
BEGIN
    PERFORM softview_internal.require_enabled(rel);
    IF shown IS NULL OR shown NOT IN ('live', 'deleted', 'all') THEN
        RAISE EXCEPTION 'invalid row filter for %: %', softview_internal.qualified_name(rel), coalesce(shown, 'NULL')
            USING ERRCODE = 'invalid_parameter_value', HINT = 'use live, deleted or all';
    END IF;
    IF page_size IS NULL OR page_size NOT BETWEEN 1 AND 10000 THEN
        RAISE EXCEPTION 'invalid page size for %: %', softview_internal.qualified_name(rel), coalesce(page_size::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value', HINT = 'a page holds 1 to 10000 rows';
    END IF;
    soft_deletable := EXISTS (SELECT 1 FROM softview_internal.tables t WHERE t.relation = rel AND t.soft_deletable)
                      AND EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = rel AND attname = 'deleted_at'
                                                              AND attnum > 0 AND NOT attisdropped);
    in_view := format('EXISTS (SELECT 1 FROM %s v WHERE %s)', softview_internal.view_name(rel),
                      softview_internal.match_columns('v.', columns, 't', columns,
                                                      softview_internal.primary_key_operators(rel)));
    IF shown = 'live' THEN
        conditions := conditions || in_view;
    ELSIF shown = 'deleted' THEN
        conditions := conditions || CASE WHEN soft_deletable THEN 't.deleted_at IS NOT NULL' ELSE 'NOT ' || in_view END;
    END IF;
    IF after IS NOT NULL THEN
        -- key_condition checks the key's shape; the page starts past it: (a > x) OR (a = x AND b > y) …
        PERFORM softview_internal.key_condition(rel, after);
        SELECT string_agg(format('(%s)', (
                   SELECT string_agg(format('t.%I %s %L::%s', c2, CASE WHEN m < n THEN eq ELSE gt END, v2, type2), ' AND ')
                   FROM unnest(columns, after, softview_internal.primary_key_operators(rel),
                               softview_internal.primary_key_operators(rel, 5::smallint),
                               array(SELECT format_type(a.atttypid, a.atttypmod) FROM unnest(columns) WITH ORDINALITY AS u(c, o)
                                     JOIN pg_attribute a ON a.attrelid = rel AND a.attname = u.c ORDER BY u.o))
                        WITH ORDINALITY AS w(c2, v2, eq, gt, type2, m)
                   WHERE m <= n)), ' OR ')
        INTO later
        FROM generate_series(1, cardinality(columns)) AS n;
        conditions := conditions || format('(%s)', later);
    END IF;
    RETURN QUERY EXECUTE format(
        'SELECT ARRAY[%s]::text[], to_jsonb(t), CASE WHEN %s THEN %L WHEN %s THEN %L ELSE %L END, %s, %s
         FROM %s t WHERE %s ORDER BY %s LIMIT $2',
        (SELECT string_agg(format('t.%I::text', c), ', ') FROM unnest(columns) AS c),
        in_view, 'live',
        CASE WHEN soft_deletable THEN 't.deleted_at IS NOT NULL' ELSE 'false' END, 'deleted',
        'hidden',
        CASE WHEN soft_deletable THEN 't.deleted_at' ELSE 'NULL::timestamptz' END,
        CASE WHEN soft_deletable THEN 't.deleted_at + $1' ELSE 'NULL::timestamptz' END,
        softview_internal.qualified_name(rel),
        coalesce(nullif(array_to_string(conditions, ' AND '), ''), 'true'),
        (SELECT string_agg(format('t.%I USING %s', c, op), ', ')
         FROM unnest(columns, softview_internal.primary_key_operators(rel, 1::smallint)) AS u(c, op)))
    USING softview.grace_period(rel), page_size;
END
$$;

-- `jsonb_to_recordset` column definitions for `rel`'s primary key: key objects such as
-- {"id": 7} are read back with the columns' own types.
CREATE FUNCTION softview_internal.key_record(rel regclass) RETURNS text
LANGUAGE sql STABLE STRICT AS $$
    SELECT string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY u.n)
    FROM unnest(softview_internal.primary_key(rel)) WITH ORDINALITY AS u(c, n)
    JOIN pg_attribute a ON a.attrelid = rel AND a.attname = u.c
$$;

-- Every stored row whose visibility follows the row `key` of `rel` through the views: its
-- children in enabled tables, theirs, and so on (and its descendants in a self-referencing
-- table that hides them), each once, as key objects per table. The row itself is not included.
CREATE FUNCTION softview_internal.view_descendants(rel regclass, key text[])
RETURNS TABLE (relation regclass, keys jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    reached jsonb;
    frontier jsonb;
    next_frontier jsonb;
    parent_oid text;
    parent_keys jsonb;
    edge record;
    found_keys jsonb;
    key_pairs text;
BEGIN
    EXECUTE format('SELECT jsonb_build_array(jsonb_build_object(%s)) FROM %s t WHERE %s',
                   (SELECT string_agg(format('%L, t.%I', c, c), ', ') FROM unnest(softview_internal.primary_key(rel)) AS c),
                   softview_internal.qualified_name(rel), softview_internal.key_condition(rel, key))
    INTO frontier;
    IF frontier IS NULL THEN
        RETURN;
    END IF;
    frontier := jsonb_build_object(rel::oid::text, frontier);
    reached := frontier;
    WHILE frontier <> '{}' LOOP
        next_frontier := '{}';
        FOR parent_oid, parent_keys IN SELECT * FROM jsonb_each(frontier) LOOP
            FOR edge IN
                SELECT t.relation AS child, p.constraint_name, p.child_columns, p.parent_columns
                FROM softview_internal.tables t
                CROSS JOIN LATERAL softview_internal.parents(t.relation) AS p
                WHERE softview_internal.table_exists(t.relation) AND p.parent = parent_oid::oid
                UNION ALL
                SELECT s.parent, s.constraint_name, s.child_columns, s.parent_columns
                FROM softview_internal.self_references(parent_oid::oid::regclass) AS s
                WHERE (SELECT t.hide_descendants FROM softview_internal.tables t WHERE t.relation = parent_oid::oid)
            LOOP
                key_pairs := (SELECT string_agg(format('%L, x.%I', c, c), ', ')
                              FROM unnest(softview_internal.primary_key(edge.child)) AS c);
                EXECUTE format(
                    'SELECT jsonb_agg(jsonb_build_object(%s)) FROM %s x
                     WHERE EXISTS (SELECT 1 FROM jsonb_to_recordset($1) AS p(%s) WHERE %s)
                       AND NOT EXISTS (SELECT 1 FROM jsonb_to_recordset($2) AS d(%s) WHERE %s)',
                    key_pairs, softview_internal.qualified_name(edge.child),
                    (SELECT string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY u.n)
                     FROM unnest(edge.parent_columns) WITH ORDINALITY AS u(c, n)
                     JOIN pg_attribute a ON a.attrelid = parent_oid::oid AND a.attname = u.c),
                    softview_internal.match_columns('p.', edge.parent_columns, 'x', edge.child_columns,
                                                   softview_internal.foreign_key_operators(edge.child, edge.constraint_name)),
                    softview_internal.key_record(edge.child),
                    softview_internal.match_columns('d.', softview_internal.primary_key(edge.child), 'x',
                                                   softview_internal.primary_key(edge.child),
                                                   softview_internal.primary_key_operators(edge.child)))
                INTO found_keys
                USING parent_keys,
                      coalesce(reached -> (edge.child::oid::text), '[]') || coalesce(next_frontier -> (edge.child::oid::text), '[]');
                IF found_keys IS NOT NULL THEN
                    next_frontier := jsonb_set(next_frontier, ARRAY[edge.child::oid::text],
                                               coalesce(next_frontier -> (edge.child::oid::text), '[]') || found_keys);
                END IF;
            END LOOP;
        END LOOP;
        FOR parent_oid, parent_keys IN SELECT * FROM jsonb_each(next_frontier) LOOP
            reached := jsonb_set(reached, ARRAY[parent_oid], coalesce(reached -> parent_oid, '[]') || parent_keys);
        END LOOP;
        frontier := next_frontier;
    END LOOP;
    -- The row itself was reached first; what follows it in its own table are descendants.
    reached := jsonb_set(reached, ARRAY[rel::oid::text], (reached -> (rel::oid::text)) - 0);
    RETURN QUERY SELECT k::oid::regclass, v FROM jsonb_each(reached) AS e(k, v) WHERE jsonb_array_length(v) > 0;
END
$$;

-- How many of the rows `keys` (key objects of `rel`) its view shows now.
CREATE FUNCTION softview_internal.visible_count(rel regclass, keys jsonb) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    n bigint;
    columns name[] := softview_internal.primary_key(rel);
BEGIN
    EXECUTE format('SELECT count(*) FROM jsonb_to_recordset($1) AS k(%s) WHERE EXISTS (SELECT 1 FROM %s v WHERE %s)',
                   softview_internal.key_record(rel), softview_internal.view_name(rel),
                   softview_internal.match_columns('v.', columns, 'k', columns,
                                                   softview_internal.primary_key_operators(rel)))
    USING keys INTO n;
    RETURN n;
END
$$;

-- The tables a hard delete of `rel`'s rows can reach through foreign keys of any action, as the
-- leaf tables PostgreSQL counts row changes on (partitions, not their partitioned table).
CREATE FUNCTION softview_internal.referencing_leaves(rel regclass) RETURNS TABLE (leaf regclass, root regclass)
LANGUAGE sql STABLE STRICT AS $$
    WITH RECURSIVE reached (relation) AS (
        SELECT rel::oid
        UNION
        SELECT c.conrelid FROM pg_constraint c JOIN reached r ON c.confrelid = r.relation
        WHERE c.contype = 'f' AND c.conparentid = 0)
    SELECT r.relation::regclass, r.relation::regclass
    FROM reached r JOIN pg_class c ON c.oid = r.relation
    WHERE c.relkind = 'r'
    UNION ALL
    SELECT l.relid::regclass, r.relation::regclass
    FROM reached r JOIN pg_class c ON c.oid = r.relation AND c.relkind = 'p'
    CROSS JOIN LATERAL pg_partition_tree(r.relation::regclass) AS l
    WHERE l.isleaf
$$;

-- What `action` (soft_delete, restore or hard_delete) on the row `key` of `rel` would do, per
-- table: the row soft-deleted or restored, rows deleted (the row and what foreign keys cascade
-- to), rows changed (references set to NULL or their default), rows that leave the views with
-- it (hidden) or come back (shown), the row still hidden by a deleted parent after a restore,
-- or the error that refuses the action (a foreign key still referencing it, a unique key taken,
-- an actor required, a privilege missing). It is measured by doing the action and rolling it
-- back inside the call, so the numbers are the action's own, triggers and all; nothing remains
-- but advanced sequences. Errors that are not the action's outcome (no such row, a bad key, a
-- restore of a live row) are raised as the action would raise them.
CREATE FUNCTION softview.preview(rel regclass, key text[], action text)
RETURNS TABLE (table_name text, effect text, rows bigint, detail text)
LANGUAGE plpgsql AS $$
DECLARE
    descendants jsonb := '{}';
    visible_before jsonb := '{}';
    visible_after jsonb := '{}';
    changes_before jsonb;
    changes_after jsonb;
    item record;
    refusal text;
    refused_table text;
    still_hidden text;
    was_deleted boolean;
    message text;
    message_detail text;
    schema_name text;
    error_table text;
BEGIN
    IF action IS NULL OR action NOT IN ('soft_delete', 'restore', 'hard_delete') THEN
        RAISE EXCEPTION 'invalid action for %: %', softview_internal.qualified_name(rel), coalesce(action, 'NULL')
            USING ERRCODE = 'invalid_parameter_value', HINT = 'use soft_delete, restore or hard_delete';
    END IF;
    PERFORM softview_internal.key_condition(rel, key);
    IF action = 'hard_delete' THEN
        SELECT jsonb_object_agg(l.leaf::oid::text, jsonb_build_array(pg_stat_get_xact_tuples_deleted(l.leaf),
                                                                     pg_stat_get_xact_tuples_updated(l.leaf)))
        INTO changes_before FROM softview_internal.referencing_leaves(rel) AS l;
    ELSE
        PERFORM softview_internal.require_soft_deletable(rel);
        EXECUTE format('SELECT t.deleted_at IS NOT NULL FROM %s t WHERE %s', softview_internal.qualified_name(rel),
                       softview_internal.key_condition(rel, key))
        INTO was_deleted;
        SELECT coalesce(jsonb_object_agg(d.relation::oid::text, d.keys), '{}') INTO descendants
        FROM softview_internal.view_descendants(rel, key) AS d;
        SELECT coalesce(jsonb_object_agg(k, softview_internal.visible_count(k::oid::regclass, v)), '{}')
        INTO visible_before FROM jsonb_each(descendants) AS e(k, v);
    END IF;
    BEGIN
        CASE action
            WHEN 'soft_delete' THEN PERFORM softview.soft_delete_row(rel, key);
            WHEN 'restore' THEN PERFORM softview.restore_row(rel, key);
            ELSE
                PERFORM softview.hard_delete_row(rel, key);
                -- Deferred foreign keys would only refuse at COMMIT.
                SET CONSTRAINTS ALL IMMEDIATE;
        END CASE;
        IF action = 'hard_delete' THEN
            SELECT jsonb_object_agg(l.leaf::oid::text, jsonb_build_array(pg_stat_get_xact_tuples_deleted(l.leaf),
                                                                         pg_stat_get_xact_tuples_updated(l.leaf)))
            INTO changes_after FROM softview_internal.referencing_leaves(rel) AS l;
        ELSE
            SELECT coalesce(jsonb_object_agg(k, softview_internal.visible_count(k::oid::regclass, v)), '{}')
            INTO visible_after FROM jsonb_each(descendants) AS e(k, v);
            IF action = 'restore' THEN
                still_hidden := softview.hidden_by(rel, key);
            END IF;
        END IF;
        RAISE EXCEPTION 'softview preview rolls back' USING ERRCODE = 'SV900';
    EXCEPTION
        WHEN SQLSTATE 'SV900' THEN
            NULL;
        WHEN foreign_key_violation OR unique_violation OR exclusion_violation OR check_violation
             OR not_null_violation OR restrict_violation OR insufficient_privilege OR SQLSTATE 'SV001'
             OR SQLSTATE 'SV002' THEN
            GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, message_detail = PG_EXCEPTION_DETAIL,
                                    schema_name = SCHEMA_NAME, error_table = TABLE_NAME;
            refusal := concat_ws(' ', message || '.', nullif(message_detail, ''));
            refused_table := CASE WHEN error_table <> '' THEN format('%s.%s', schema_name, error_table)
                                  ELSE softview_internal.qualified_name(rel) END;
    END;
    IF refusal IS NOT NULL THEN
        RETURN QUERY SELECT refused_table, 'refused'::text, NULL::bigint, refusal;
        RETURN;
    END IF;
    IF action = 'hard_delete' THEN
        RETURN QUERY
            SELECT softview_internal.qualified_name(l.root), c.effect, sum(c.n)::bigint, NULL::text
            FROM softview_internal.referencing_leaves(rel) AS l
            CROSS JOIN LATERAL (VALUES
                ('deleted', (changes_after -> (l.leaf::oid::text) ->> 0)::bigint - (changes_before -> (l.leaf::oid::text) ->> 0)::bigint),
                ('changed', (changes_after -> (l.leaf::oid::text) ->> 1)::bigint - (changes_before -> (l.leaf::oid::text) ->> 1)::bigint))
                AS c(effect, n)
            GROUP BY l.root, c.effect
            HAVING sum(c.n) > 0
            ORDER BY l.root <> rel, 1, c.effect DESC;
        RETURN;
    END IF;
    table_name := softview_internal.qualified_name(rel);
    effect := CASE WHEN action = 'restore' THEN 'restored'
                   WHEN was_deleted THEN 'already_deleted'
                   ELSE 'soft_deleted' END;
    rows := 1;
    detail := NULL;
    RETURN NEXT;
    IF still_hidden IS NOT NULL THEN
        effect := 'still_hidden';
        detail := format('%s is deleted or hidden', still_hidden);
        RETURN NEXT;
    END IF;
    RETURN QUERY
        SELECT softview_internal.qualified_name(k::oid::regclass),
               CASE action WHEN 'soft_delete' THEN 'hidden' ELSE 'shown' END,
               abs((visible_after ->> k)::bigint - (visible_before ->> k)::bigint), NULL::text
        FROM jsonb_object_keys(visible_before) AS k
        WHERE (visible_after ->> k)::bigint <> (visible_before ->> k)::bigint
        ORDER BY 1;
END
$$;

-- One stored row of `rel` by its key, deleted or not; NULL when there is none.
CREATE FUNCTION softview.stored_row(rel regclass, key text[]) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    result jsonb;
BEGIN
    EXECUTE format('SELECT to_jsonb(t) FROM %s t WHERE %s', softview_internal.qualified_name(rel),
                   softview_internal.key_condition(rel, key))
    INTO result;
    RETURN result;
END
$$;

-- Grace periods and the purge of rows deleted longer ago than theirs.

-- Checks an age given to the toolkit (a grace period, an age to purge or prune from) where it
-- is given, so that nothing fails later on it: not NULL; no negative part (PostgreSQL adds an
-- interval's months, days and time one by one, so '1 mon -30 days' goes back in time from some
-- dates); at most 1000 years (more puts `now() - age` out of timestamptz's range).
CREATE FUNCTION softview_internal.checked_age(what text, age interval) RETURNS interval
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    months integer;
    days integer;
BEGIN
    IF age IS NULL THEN
        RAISE EXCEPTION 'invalid %: it must not be NULL', what
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    months := extract(year FROM age) * 12 + extract(month FROM age);
    days := extract(day FROM age);
    IF months < 0 OR days < 0 OR age - make_interval(months => months, days => days) < interval '0' THEN
        RAISE EXCEPTION 'invalid %: it must not be negative, in any part; got %', what, age
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = '''1 mon -30 days'' counts as negative: it goes back in time from some dates';
    END IF;
    IF age > interval '1000 years' THEN
        RAISE EXCEPTION 'invalid %: it must be at most 1000 years, got %', what, age
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN age;
END
$$;

-- How long deleted rows of `rel` wait before a purge: its own grace period or the default.
CREATE FUNCTION softview.grace_period(rel regclass) RETURNS interval
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM softview_internal.require_soft_deletable(rel);
    RETURN (SELECT coalesce(t.grace_period, s.default_grace_period)
            FROM softview_internal.tables t CROSS JOIN softview_internal.settings s
            WHERE t.relation = rel);
END
$$;

-- Sets how long deleted rows of `rel` wait before a purge; NULL returns it to the default.
CREATE FUNCTION softview.set_grace_period(rel regclass, grace interval) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM softview_internal.require_soft_deletable(rel);
    PERFORM softview_internal.require_owner(rel, 'change its settings');
    IF grace IS NOT NULL THEN
        PERFORM softview_internal.checked_age('grace period', grace);
    END IF;
    UPDATE softview_internal.tables SET grace_period = grace WHERE relation = rel;
END
$$;

-- Only the toolkit's owner may call it (EXECUTE is not granted): it is every table's setting.
CREATE FUNCTION softview.set_default_grace_period(grace interval) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE softview_internal.settings
    SET default_grace_period = softview_internal.checked_age('default grace period', grace);
END
$$;


-- Soft-deletable tables in the order a purge takes them: children before parents.
CREATE FUNCTION softview_internal.purge_order() RETURNS SETOF regclass
LANGUAGE sql STABLE AS $$
    SELECT relation FROM softview_internal.tables
    WHERE soft_deletable AND softview_internal.table_exists(relation)
    ORDER BY position DESC
$$;

-- The rows of `rel` a purge would remove now: deleted longer ago than `older_than` (the
-- table's grace period when NULL), not still referenced through a RESTRICT or NO ACTION
-- foreign key (those wait until their children are gone), and not due to go with their parent
-- through an ON DELETE CASCADE key.
CREATE FUNCTION softview_internal.purge_candidates(rel regclass, older_than interval DEFAULT NULL,
                                          selected text DEFAULT '1') RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    age interval := softview_internal.checked_age('age to purge from',
                                                  coalesce(older_than, softview.grace_period(rel)));
    held text;
    grouped text;
BEGIN
    PERFORM softview_internal.require_soft_deletable(rel);
    -- A row whose parent through an ON DELETE CASCADE key is due too goes with that parent, in
    -- its batch's transaction, so that restoring that transaction brings both back.
    SELECT string_agg(format(' AND NOT EXISTS (SELECT 1 FROM %s g WHERE %s AND g.deleted_at < now() - %L::interval)',
                             softview_internal.qualified_name(c.confrelid),
                             softview_internal.match_columns(
                                 'g.', softview_internal.column_names(c.confrelid, c.confkey),
                                 'c', softview_internal.column_names(c.conrelid, c.conkey),
                                 softview_internal.foreign_key_operators(c.conrelid, c.conname)),
                             softview_internal.checked_age('age to purge from',
                                                           coalesce(older_than, softview.grace_period(c.confrelid)))), '')
    INTO grouped
    FROM pg_constraint c
    JOIN softview_internal.tables t ON t.relation = c.confrelid AND t.soft_deletable
    WHERE c.contype = 'f' AND c.conrelid = rel AND c.confdeltype = 'c'
      AND softview_internal.table_exists(c.confrelid);
    SELECT string_agg(format(' AND NOT EXISTS (SELECT 1 FROM %s x WHERE %s)',
                             softview_internal.qualified_name(c.conrelid),
                             softview_internal.match_columns(
                                 'c.', softview_internal.column_names(c.confrelid, c.confkey),
                                 'x', softview_internal.column_names(c.conrelid, c.conkey),
                                 softview_internal.foreign_key_operators(c.conrelid, c.conname))), '')
    INTO held
    FROM pg_constraint c
    WHERE c.contype = 'f' AND c.confrelid = rel AND c.confdeltype IN ('a', 'r');
    RETURN format('SELECT %s FROM %s c WHERE c.deleted_at < now() - %L::interval%s%s',
        selected, softview_internal.qualified_name(rel), age, coalesce(held, ''), coalesce(grouped, ''));
END
$$;

-- Hard-deletes (and so archives) up to `batch_size` purgeable rows of `rel`, oldest first,
-- skipping rows another transaction holds (a restore, another purge). Returns how many.
-- Run each batch in a transaction of its own. The purge's actor and reason label only its own
-- deletes: the caller's settings are back when it returns. It deletes with the caller's
-- rights; softview.purge_age tells the archive trigger which deleted rows count as purged, and
-- the trigger counts what it archives per table in softview.purge_archived, which starts empty
-- at each call (a caller's transaction may hold several batches).
CREATE FUNCTION softview.purge_batch(rel regclass, batch_size integer, older_than interval DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    purged bigint;
    previous_actor text := current_setting('softview.actor', true);
    previous_reason text := current_setting('softview.reason', true);
BEGIN
    IF batch_size IS NULL OR batch_size < 1 THEN
        RAISE EXCEPTION 'a purge batch must hold at least one row, got %', batch_size
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM set_config('softview.actor', coalesce(softview_internal.current_actor(), 'softview purge'), true);
    PERFORM set_config('softview.reason', coalesce(softview_internal.current_reason(),
        format('deleted more than %s ago', coalesce(older_than, softview.grace_period(rel)))), true);
    PERFORM set_config('softview.purge_age', coalesce(older_than, softview.grace_period(rel))::text, true);
    PERFORM set_config('softview.purge_archived', '', true);
    -- The rows are locked by the subquery, so their ctids stay theirs until the DELETE.
    EXECUTE format('DELETE FROM %s WHERE ctid = ANY (ARRAY(%s ORDER BY c.deleted_at LIMIT %s FOR UPDATE SKIP LOCKED))',
        softview_internal.qualified_name(rel), softview_internal.purge_candidates(rel, older_than, 'c.ctid'), batch_size);
    GET DIAGNOSTICS purged = ROW_COUNT;
    PERFORM set_config('softview.actor', coalesce(previous_actor, ''), true);
    PERFORM set_config('softview.reason', coalesce(previous_reason, ''), true);
    PERFORM set_config('softview.purge_age', '', true);
    RETURN purged;
END
$$;

-- How many rows of `rel` a purge would remove now (for a dry run).
CREATE FUNCTION softview.purgeable(rel regclass, older_than interval DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM (%s) AS candidates', softview_internal.purge_candidates(rel, older_than))
    INTO n;
    RETURN n;
END
$$;

-- How many rows ON DELETE CASCADE foreign keys delete with the rows the query `doomed` selects
-- from `parent`, per table, following the cascades down (at most 64 levels). A row reached along
-- two paths is counted on each.
CREATE FUNCTION softview_internal.cascade_counts(parent regclass, doomed text, depth integer DEFAULT 1)
RETURNS TABLE (relation regclass, rows bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    fk record;
    reached text;
    key name[] := softview_internal.primary_key(parent);
    n bigint;
BEGIN
    IF depth > 64 THEN
        RETURN;
    END IF;
    FOR fk IN
        SELECT c.conrelid::regclass AS child, c.conname,
               softview_internal.column_names(c.conrelid, c.conkey) AS child_columns,
               softview_internal.column_names(c.confrelid, c.confkey) AS parent_columns
        FROM pg_constraint c
        WHERE c.contype = 'f' AND c.confrelid = parent AND c.confdeltype = 'c' AND c.conparentid = 0
        ORDER BY c.conname
    LOOP
        reached := format('SELECT x.* FROM %s x WHERE EXISTS (SELECT 1 FROM (%s) p WHERE %s)',
            softview_internal.qualified_name(fk.child), doomed,
            softview_internal.match_columns('p.', fk.parent_columns, 'x', fk.child_columns,
                                            softview_internal.foreign_key_operators(fk.child, fk.conname)));
        IF fk.child = parent AND cardinality(key) > 0 THEN
            -- A self-reference: rows the query already selects are not deleted twice.
            reached := reached || format(' AND NOT EXISTS (SELECT 1 FROM (%s) d WHERE %s)',
                doomed, softview_internal.match_columns('x.', key, 'd', key,
                                                        softview_internal.primary_key_operators(parent)));
        END IF;
        EXECUTE format('SELECT count(*) FROM (%s) AS r', reached) INTO n;
        IF n > 0 THEN
            relation := fk.child;
            rows := n;
            RETURN NEXT;
            RETURN QUERY SELECT * FROM softview_internal.cascade_counts(fk.child, reached, depth + 1);
        END IF;
    END LOOP;
END
$$;

-- The rows of other tables that ON DELETE CASCADE would delete with the rows a purge of `rel`
-- removes now, per table (for a dry run; the purge itself archives those of enabled tables).
CREATE FUNCTION softview.purgeable_cascades(rel regclass, older_than interval DEFAULT NULL)
RETURNS TABLE (table_name text, rows bigint)
LANGUAGE sql STABLE AS $$
    SELECT softview_internal.qualified_name(c.relation), sum(c.rows)::bigint
    FROM softview_internal.cascade_counts(rel, softview_internal.purge_candidates(rel, older_than, 'c.*')) AS c
    GROUP BY c.relation
    ORDER BY 1
$$;

-- Wakes a waiting `softview worker` before its interval is over.
CREATE FUNCTION softview.wake_worker() RETURNS void
LANGUAGE sql AS $$ SELECT pg_notify('softview_worker', '') $$;


-- One purge pass of every table, parents' children first, each batch committed on its own,
-- after adding the archive's coming partitions: what `softview worker` does once, as a
-- procedure a scheduler inside the database can CALL. It runs with the caller's rights. It has
-- no pinned search_path (a procedure with one cannot commit): it names every object with its
-- schema and calls only pinned functions.
CREATE PROCEDURE softview.purge_due(batch_size integer DEFAULT 1000)
LANGUAGE plpgsql AS $$
DECLARE
    rel regclass;
    purged bigint;
BEGIN
    PERFORM softview.add_archive_partitions();
    COMMIT;
    FOR rel IN SELECT * FROM softview_internal.purge_order() LOOP
        LOOP
            purged := softview.purge_batch(rel, batch_size);
            COMMIT;
            EXIT WHEN purged OPERATOR(pg_catalog.<) batch_size;
        END LOOP;
    END LOOP;
END
$$;

-- The name of this database's purge job in pg_cron.
CREATE FUNCTION softview_internal.purge_job_name() RETURNS text
LANGUAGE sql STABLE AS $$ SELECT format('softview purge %s', current_database()) $$;

-- Schedules `CALL softview.purge_due(batch_size)` with pg_cron (a cron schedule such as
-- '* * * * *'), as the calling role; again, it replaces the schedule. Returns the job's id.
-- Without pg_cron in this database it says where pg_cron runs its jobs from and what to run
-- there, and points to `softview worker`.
CREATE FUNCTION softview.schedule_purge(schedule text DEFAULT '* * * * *', batch_size integer DEFAULT 1000)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    command text;
    cron_database text := nullif(current_setting('cron.database_name', true), '');
    job bigint;
BEGIN
    IF batch_size IS NULL OR batch_size < 1 THEN
        RAISE EXCEPTION 'a purge batch must hold at least one row, got %', coalesce(batch_size::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    command := format('CALL softview.purge_due(%s)', batch_size);
    IF to_regprocedure('cron.schedule(text, text, text)') IS NULL THEN
        RAISE EXCEPTION 'pg_cron is not installed in this database'
            USING ERRCODE = 'undefined_object',
                  DETAIL = CASE WHEN cron_database IS NULL
                               THEN 'The server does not load pg_cron (shared_preload_libraries).'
                               ELSE format('pg_cron runs its jobs from database %s. There, run: SELECT cron.schedule_in_database(%L, %L, %L, %L)',
                                           cron_database, softview_internal.purge_job_name(), schedule, command, current_database())
                           END,
                  HINT = 'Or run `softview worker` beside the database: it purges on an interval.';
    END IF;
    EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO job USING softview_internal.purge_job_name(), schedule, command;
    RETURN job;
END
$$;

-- Removes the purge job schedule_purge made; false when there was none.
CREATE FUNCTION softview.unschedule_purge() RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    scheduled boolean;
BEGIN
    IF to_regprocedure('cron.unschedule(name)') IS NULL THEN
        RETURN false;
    END IF;
    -- Dynamic SQL: the schema cron exists only where pg_cron is installed.
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job WHERE jobname = $1)' INTO scheduled
        USING softview_internal.purge_job_name();
    IF NOT scheduled THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT cron.unschedule($1::name)' INTO scheduled USING softview_internal.purge_job_name();
    RETURN scheduled;
END
$$;

-- Which indexes of an enabled table deleted rows spoil, and which foreign keys lack one.

-- The indexes of an enabled table that do not serve live rows well: unique indexes that deleted
-- rows still hold keys in, and indexes that deleted rows fill. An index that serves a foreign key
-- (its leading columns are the key's) must stay full: deleting or purging a parent finds the
-- children, deleted ones included, through it; so must a unique index foreign keys reference.
-- So a foreign key served only by partial indexes,
-- or by none, is listed too, with the index to create. The primary key and the trash index
-- (deleted rows by deleted_at) are meant to cover every row and are not listed.
CREATE FUNCTION softview.index_check(rel regclass)
RETURNS TABLE (index_name text, definition text, problem text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM softview_internal.require_soft_deletable(rel);
    RETURN QUERY
    WITH indexes AS (
        SELECT i.indexrelid, i.indisunique, i.indisprimary, i.indkey::int2[] AS columns,
               coalesce(pg_get_expr(i.indpred, i.indrelid), '') AS predicate
        FROM pg_index i
        WHERE i.indrelid = rel AND i.indisvalid
    ),
    foreign_keys AS (
        SELECT c.conname, c.conkey,
               EXISTS (SELECT 1 FROM indexes x
                       WHERE x.predicate = ''
                         AND x.columns[0:cardinality(c.conkey) - 1] @> c.conkey
                         AND x.columns[0:cardinality(c.conkey) - 1] <@ c.conkey) AS served
        FROM pg_constraint c
        WHERE c.contype = 'f' AND c.conrelid = rel
    )
    SELECT x.indexrelid::regclass::text,
           pg_get_indexdef(x.indexrelid),
           CASE WHEN x.indisunique
                THEN 'unique across deleted rows: a deleted row keeps its key; add WHERE deleted_at IS NULL'
                ELSE 'not partial: deleted rows fill it and slow live reads; add WHERE deleted_at IS NULL'
           END
    FROM indexes x
    WHERE NOT x.indisprimary
      AND x.predicate NOT LIKE '%deleted_at IS NULL%'
      AND x.predicate NOT LIKE '%deleted_at IS NOT NULL%'
      -- A unique key that foreign keys reference must hold every row's key.
      AND NOT EXISTS (SELECT 1 FROM pg_constraint r WHERE r.contype = 'f' AND r.conindid = x.indexrelid)
      AND (x.indisunique OR NOT EXISTS (
              SELECT 1 FROM foreign_keys f
              WHERE x.columns[0:cardinality(f.conkey) - 1] @> f.conkey
                AND x.columns[0:cardinality(f.conkey) - 1] <@ f.conkey))
    UNION ALL
    SELECT NULL,
           format('CREATE INDEX ON %s (%s)', softview_internal.qualified_name(rel),
                  (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.n)
                   FROM unnest(f.conkey) WITH ORDINALITY AS k(attnum, n)
                   JOIN pg_attribute a ON a.attrelid = rel AND a.attnum = k.attnum)),
           format('foreign key %s has no full index: deleting or purging a parent scans the table for its children; '
                  'create this one (keep any partial index for live reads)', f.conname)
    FROM foreign_keys f
    WHERE NOT f.served
    ORDER BY 1 NULLS LAST, 2;
END
$$;

-- The indexes softview.enable(rel) (or enable_dependent) would otherwise build while it holds
-- its locks, under the names it gives them, each with the CREATE INDEX CONCURRENTLY statement
-- that builds it without blocking writers; none when they exist. Run each statement on its own,
-- outside a transaction block, then enable: it adopts them.
CREATE FUNCTION softview.online_index_statements(rel regclass)
RETURNS TABLE (index_name text, statement text)
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
    SELECT format('%I.%I', n.nspname, softview_internal.index_name(w.relation, w.suffix)),
           format('CREATE INDEX CONCURRENTLY %I ON %s (%s) WHERE %s',
                  softview_internal.index_name(w.relation, w.suffix),
                  softview_internal.qualified_name(w.relation),
                  (SELECT string_agg(quote_ident(c), ', ') FROM unnest(w.key_columns) AS c),
                  w.predicate)
    FROM softview_internal.wanted_indexes(rel) AS w
    JOIN pg_class c ON c.oid = w.relation
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE softview_internal.matching_index(w.relation, w.key_columns, w.predicate) IS NULL
    ORDER BY 1
$$;

-- How to make the unique indexes of an enabled table partial without blocking its writers, one
-- row per unique index that deleted rows still hold keys in: `build` creates its partial twin
-- `partial_name` concurrently; `retire` then drops the full one (DROP INDEX CONCURRENTLY, or for
-- a constraint a short ALTER TABLE) and `unretire` puts it back. A unique key that foreign keys
-- reference stays: `kept_because` names them and the statements are NULL. Run each statement
-- on its own, outside a transaction block.
CREATE FUNCTION softview.partial_unique_statements(rel regclass)
RETURNS TABLE (index_name text, partial_name text, build text, retire text, unretire text, kept_because text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM softview_internal.require_soft_deletable(rel);
    RETURN QUERY
    WITH unique_indexes AS (
        SELECT c.relname AS name, n.nspname AS schema_name,
               softview_internal.fitted_name(c.relname, '_live') AS partial,
               pg_get_indexdef(i.indexrelid) AS definition, i.indpred IS NOT NULL AS has_predicate,
               k.conname AS constraint_name, pg_get_constraintdef(k.oid) AS constraint_definition,
               (SELECT string_agg(format('%s of %s', r.conname, r.conrelid::regclass), ', ' ORDER BY r.conname)
                FROM pg_constraint r WHERE r.contype = 'f' AND r.conindid = i.indexrelid) AS references_it
        FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = rel AND k.contype = 'u'
        WHERE i.indrelid = rel AND i.indisunique AND NOT i.indisprimary AND i.indisvalid
          AND coalesce(pg_get_expr(i.indpred, i.indrelid), '') NOT LIKE '%deleted_at IS NULL%'
          AND coalesce(pg_get_expr(i.indpred, i.indrelid), '') NOT LIKE '%deleted_at IS NOT NULL%'
    ),
    planned AS (
        SELECT u.*, u.references_it IS NULL AS replaceable FROM unique_indexes u
    )
    SELECT format('%I.%I', u.schema_name, u.name),
           CASE WHEN u.replaceable THEN format('%I.%I', u.schema_name, u.partial) END,
           CASE WHEN u.replaceable THEN
               format('CREATE UNIQUE INDEX CONCURRENTLY %I%s%s', u.partial,
                      substr(u.definition, length(format('CREATE UNIQUE INDEX %I', u.name)) + 1),
                      CASE WHEN u.has_predicate THEN ' AND deleted_at IS NULL' ELSE ' WHERE deleted_at IS NULL' END)
           END,
           CASE WHEN u.replaceable THEN
               CASE WHEN u.constraint_name IS NOT NULL
                    THEN format('ALTER TABLE %s DROP CONSTRAINT %I', softview_internal.qualified_name(rel), u.constraint_name)
                    ELSE format('DROP INDEX CONCURRENTLY %I.%I', u.schema_name, u.name) END
           END,
           CASE WHEN u.replaceable THEN
               CASE WHEN u.constraint_name IS NOT NULL
                    THEN format('ALTER TABLE %s ADD CONSTRAINT %I %s', softview_internal.qualified_name(rel),
                                u.constraint_name, u.constraint_definition)
                    ELSE regexp_replace(u.definition, '^CREATE UNIQUE INDEX ', 'CREATE UNIQUE INDEX CONCURRENTLY ') END
           END,
           CASE WHEN NOT u.replaceable THEN
               format('foreign keys reference it (%s): they need every row''s key', u.references_it)
           END
    FROM planned u
    ORDER BY 1;
END
$$;

-- Who may call what, and the names every function resolves. The contract (README, "Roles and
-- grants"): a role with privileges on its own tables and views, plus USAGE on schema softview,
-- can do the whole lifecycle of those tables and nothing on others.

-- Everyone reads the catalog (which tables are enabled, their settings): the views, triggers and
-- functions of every role read it. Only the toolkit's functions write it, and SELECT lets a
-- role take no lock on it but ACCESS SHARE, which nothing but DDL waits for.
GRANT USAGE ON SCHEMA softview_internal TO PUBLIC;
GRANT SELECT ON softview_internal.tables, softview_internal.settings TO PUBLIC;
GRANT SELECT ON softview.enabled_tables TO PUBLIC;
-- The archive: each role reads the rows the policy `readable` shows it; only the archive
-- trigger writes it, as the toolkit's owner.
GRANT SELECT ON softview.deleted_records, softview.changed_references TO PUBLIC;
GRANT SELECT ON softview.archive_partitions TO PUBLIC;
-- Settings of every table at once, the span of the archive's partitions and forgetting archived
-- rows are for the toolkit's owner; anyone may see the partitions and add the coming ones.
REVOKE EXECUTE ON FUNCTION softview.set_default_grace_period(interval), softview.prune_archive(interval),
                           softview.set_archive_partition_width(text) FROM PUBLIC;

-- Every toolkit function resolves names in pg_catalog alone, whoever calls it (the procedure
-- purge_due, which commits, cannot have a SET clause and names everything instead): an object that a
-- role creates in a schema on the caller's search_path (a `quote_ident(name)` in `public`, say)
-- never runs in its place. Four one-expression SQL functions are left out so that PostgreSQL
-- inlines them into the triggers that call them on every statement or row (a function with
-- SET is never inlined, and each call would switch the setting twice): inlined, they are
-- parsed with their caller's pinned search_path; called on their own, they run as the caller
-- and return a value to it, nothing more. The trigger functions generated for the views
-- (`write_<oid>`) name everything with its schema instead, so that the application's triggers
-- on its tables keep the writer's search_path. Triggers of the application that fire from the
-- toolkit's own functions (soft_delete_row, purge_batch, restore_archived …) run with the
-- pinned one: they should name their schemas, as PostgreSQL advises for every trigger.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure FROM pg_proc p
        WHERE p.pronamespace IN ('softview'::regnamespace, 'softview_internal'::regnamespace)
          AND p.prokind = 'f' AND p.proconfig IS NULL AND p.proname NOT LIKE 'write\_%'
          AND p.oid <> ALL (ARRAY['softview_internal.event_payload(text, jsonb, text)',
                                  'softview_internal.current_actor()', 'softview_internal.current_reason()',
                                  'softview_internal.caller()']::regprocedure[])
    LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = pg_catalog, pg_temp', f);
    END LOOP;
END
$$;

-- Partitions created, attached or detached later follow their partitioned table's triggers at
-- once through an event trigger, which only a superuser may create; installed by anyone else,
-- softview.refresh of the partitioned table does it (see follow_partitions).
DO $$
BEGIN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        CREATE EVENT TRIGGER softview_follow_partitions ON ddl_command_end
            WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
            EXECUTE FUNCTION softview_internal.follow_partitions();
    ELSE
        RAISE NOTICE 'softview installed without its event trigger (it needs a superuser): a partition created or attached later is archived from the next softview.refresh of its table';
    END IF;
END
$$;
