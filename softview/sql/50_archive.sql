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
