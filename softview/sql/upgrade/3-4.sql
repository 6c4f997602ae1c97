-- The softview toolkit, from revision 3 to revision 4. Enabled tables, their settings and the
-- archive stay; only functions change.
--
-- Revision 4 forgets enabled tables that were dropped instead of failing on them, skips a table
-- that cannot be refreshed in refresh_all, names a table whose deleted_at was dropped, sends
-- events whose key is too long for NOTIFY with a null key, and counts the rows a purge's
-- cascades would delete.

DO $$
BEGIN
    IF to_regprocedure('softview.version()') IS NULL THEN
        RAISE EXCEPTION 'the softview toolkit is not installed; install it instead of upgrading'
            USING ERRCODE = 'undefined_object';
    END IF;
    IF softview.version() <> 3 THEN
        RAISE EXCEPTION 'this step upgrades the softview toolkit from revision 3, but revision % is installed', softview.version()
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION softview.version() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT 4 $$;

-- Whether a catalog row still names a table: a dropped table leaves a dangling OID behind.
CREATE OR REPLACE FUNCTION softview_internal.table_exists(rel regclass) RETURNS boolean
LANGUAGE sql STABLE STRICT AS $$
    SELECT EXISTS (SELECT 1 FROM pg_class WHERE oid = rel AND relkind IN ('r', 'p'))
$$;


-- Forgets the enabled tables that no longer exist (DROP TABLE, the end of a temporary
-- table's session): PostgreSQL drops their triggers and views with them but cannot drop their
-- row of the catalog. Enable, disable and refresh_all call it; until then the purge and the
-- listings skip such rows. Returns how many it forgot, with a WARNING for each.
CREATE OR REPLACE FUNCTION softview.forget_dropped_tables() RETURNS bigint
LANGUAGE plpgsql AS $$
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
CREATE OR REPLACE FUNCTION softview_internal.sort_tables() RETURNS void
LANGUAGE plpgsql AS $$
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


-- Re-creates the view of `rel` and the views built on it after the table changed. Columns
-- added to the table are appended in place (grants, triggers and other dependents stay);
-- when the column list changed otherwise, the views are dropped and re-created.
CREATE OR REPLACE FUNCTION softview.refresh(rel regclass) RETURNS void
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
CREATE OR REPLACE FUNCTION softview.refresh_all() RETURNS void
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
CREATE OR REPLACE FUNCTION softview.disable(rel regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    dependents text;
    created regclass;
    member regclass;
BEGIN
    PERFORM softview.forget_dropped_tables();
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
    END LOOP;
    EXECUTE format('DROP TRIGGER IF EXISTS softview_announce ON %s', softview_internal.qualified_name(rel));
    -- The indexes softview created on the table (see ensure_index); those on its parents stay
    -- while the parents are enabled.
    FOR created IN
        SELECT i.indexrelid::regclass FROM pg_index i
        WHERE i.indrelid = rel AND obj_description(i.indexrelid, 'pg_class') LIKE 'created by softview: %'
    LOOP
        EXECUTE format('DROP INDEX %s', created);
    END LOOP;
    DELETE FROM softview_internal.tables WHERE relation = rel;
END
$$;


CREATE OR REPLACE FUNCTION softview_internal.require_soft_deletable(rel regclass) RETURNS void
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


-- An event for channel `softview`. PostgreSQL refuses NOTIFY payloads of 8000 bytes or more,
-- which would fail the delete itself; a key longer than 7000 bytes as JSON goes out as null
-- (the table and the operation still say what to re-read). One expression, so that PostgreSQL
-- inlines it into the triggers' statements.
CREATE OR REPLACE FUNCTION softview_internal.event_payload(table_name text, key jsonb, operation text) RETURNS text
LANGUAGE sql AS $$
    SELECT json_build_object('table', table_name,
                             'key', CASE WHEN octet_length(key::text) <= 7000 THEN key END,
                             'operation', operation, 'at', clock_timestamp())::text
$$;


-- The statement-level trigger that archives hard-deleted rows: one INSERT per statement, in
-- static SQL so that its plan is cached. Arguments: the table's qualified name, its key
-- columns, and whether an actor is required (install_archive keeps them current).
CREATE OR REPLACE FUNCTION softview_internal.archive_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    actor text := softview_internal.current_actor();
BEGIN
    IF actor IS NULL AND TG_ARGV[2]::boolean AND EXISTS (SELECT 1 FROM gone) THEN
        RAISE EXCEPTION 'actor required: %', TG_ARGV[0]
            USING ERRCODE = 'SV002',
                  DETAIL = 'Hard deletes from this table need softview.actor.',
                  HINT = 'set it in the deleting transaction: SELECT set_config(''softview.actor'', ''name'', true)';
    END IF;
    INSERT INTO softview.deleted_records (table_name, primary_key, row_data, actor, reason)
    SELECT TG_ARGV[0],
           (SELECT jsonb_object_agg(k, r -> k) FROM unnest(TG_ARGV[1]::text[]) AS k),
           r, actor, softview_internal.current_reason()
    FROM (SELECT to_jsonb(g) AS r FROM gone AS g) AS deleted;
    -- A statement of its own: announcing from the INSERT's RETURNING cost twice as much.
    PERFORM pg_notify('softview', softview_internal.event_payload(
                TG_ARGV[0],
                (SELECT jsonb_object_agg(k, r -> k) FROM unnest(TG_ARGV[1]::text[]) AS k),
                CASE WHEN current_setting('softview.operation', true) = 'purge'
                     THEN 'purge' ELSE 'hard_delete' END))
    FROM (SELECT to_jsonb(g) AS r FROM gone AS g) AS deleted;
    RETURN NULL;
END
$$;


-- Announces a soft delete or a restore (a change of deleted_at) on channel `softview`.
CREATE OR REPLACE FUNCTION softview_internal.announce_soft_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('softview', softview_internal.event_payload(
        TG_ARGV[0],
        (SELECT jsonb_object_agg(k, to_jsonb(NEW) -> k) FROM unnest(TG_ARGV[1]::text[]) AS k),
        CASE WHEN NEW.deleted_at IS NULL THEN 'restore' ELSE 'soft_delete' END));
    RETURN NULL;
END
$$;


-- Soft-deletable tables in the order a purge takes them: children before parents.
CREATE OR REPLACE FUNCTION softview_internal.purge_order() RETURNS SETOF regclass
LANGUAGE sql STABLE AS $$
    SELECT relation FROM softview_internal.tables
    WHERE soft_deletable AND softview_internal.table_exists(relation)
    ORDER BY position DESC
$$;


-- The names of columns `attnums` of `rel`, in that order (a constraint's conkey or confkey).
CREATE OR REPLACE FUNCTION softview_internal.column_names(rel regclass, attnums smallint[]) RETURNS name[]
LANGUAGE sql STABLE STRICT AS $$
    SELECT array(SELECT a.attname
                 FROM unnest(attnums) WITH ORDINALITY AS k(attnum, n)
                 JOIN pg_attribute a ON a.attrelid = rel AND a.attnum = k.attnum
                 ORDER BY k.n)
$$;


-- The rows of `rel` a purge would remove now: deleted longer ago than `older_than` (the
-- table's grace period when NULL), and not still referenced through a RESTRICT or NO ACTION
-- foreign key (those wait until their children are gone).
CREATE OR REPLACE FUNCTION softview_internal.purge_candidates(rel regclass, older_than interval DEFAULT NULL,
                                          selected text DEFAULT '1') RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    age interval := softview_internal.checked_age('age to purge from',
                                                  coalesce(older_than, softview.grace_period(rel)));
    held text;
BEGIN
    PERFORM softview_internal.require_soft_deletable(rel);
    SELECT string_agg(format(' AND NOT EXISTS (SELECT 1 FROM %s x WHERE %s)',
                             softview_internal.qualified_name(c.conrelid),
                             softview_internal.match_columns(
                                 'x.', softview_internal.column_names(c.conrelid, c.conkey),
                                 'c', softview_internal.column_names(c.confrelid, c.confkey))), '')
    INTO held
    FROM pg_constraint c
    WHERE c.contype = 'f' AND c.confrelid = rel AND c.confdeltype IN ('a', 'r');
    RETURN format('SELECT %s FROM %s c WHERE c.deleted_at < now() - %L::interval%s',
        selected, softview_internal.qualified_name(rel), age, coalesce(held, ''));
END
$$;


-- How many rows ON DELETE CASCADE foreign keys delete with the rows the query `doomed` selects
-- from `parent`, per table, following the cascades down (at most 64 levels). A row reached along
-- two paths is counted on each.
CREATE OR REPLACE FUNCTION softview_internal.cascade_counts(parent regclass, doomed text, depth integer DEFAULT 1)
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
        SELECT c.conrelid::regclass AS child,
               softview_internal.column_names(c.conrelid, c.conkey) AS child_columns,
               softview_internal.column_names(c.confrelid, c.confkey) AS parent_columns
        FROM pg_constraint c
        WHERE c.contype = 'f' AND c.confrelid = parent AND c.confdeltype = 'c' AND c.conparentid = 0
        ORDER BY c.conname
    LOOP
        reached := format('SELECT x.* FROM %s x WHERE EXISTS (SELECT 1 FROM (%s) p WHERE %s)',
            softview_internal.qualified_name(fk.child), doomed,
            softview_internal.match_columns('x.', fk.child_columns, 'p', fk.parent_columns));
        IF fk.child = parent AND cardinality(key) > 0 THEN
            -- A self-reference: rows the query already selects are not deleted twice.
            reached := reached || format(' AND NOT EXISTS (SELECT 1 FROM (%s) d WHERE %s)',
                doomed, softview_internal.match_columns('x.', key, 'd', key));
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
CREATE OR REPLACE FUNCTION softview.purgeable_cascades(rel regclass, older_than interval DEFAULT NULL)
RETURNS TABLE (table_name text, rows bigint)
LANGUAGE sql STABLE AS $$
    SELECT softview_internal.qualified_name(c.relation), sum(c.rows)::bigint
    FROM softview_internal.cascade_counts(rel, softview_internal.purge_candidates(rel, older_than, 'c.*')) AS c
    GROUP BY c.relation
    ORDER BY 1
$$;


-- Drops the view of `rel` and the softview views built on it, keeping their grants for the
-- next refresh. Refuses, naming them, when views not made by softview depend on them.
CREATE OR REPLACE FUNCTION softview.drop_views(rel regclass) RETURNS void
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
    views := array(SELECT to_regclass(softview_internal.view_name(f))::oid FROM unnest(family) AS f
                   WHERE to_regclass(softview_internal.view_name(f)) IS NOT NULL);
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
        IF to_regclass(softview_internal.view_name(member)) IS NOT NULL THEN
            UPDATE softview_internal.tables
            SET saved_view_acl = (SELECT relacl FROM pg_class
                                  WHERE oid = to_regclass(softview_internal.view_name(member)))
            WHERE relation = member;
            trigger_function := softview_internal.current_trigger_function(
                to_regclass(softview_internal.view_name(member)));
            EXECUTE format('DROP VIEW %s', softview_internal.view_name(member));
            IF trigger_function IS NOT NULL THEN
                EXECUTE format('DROP FUNCTION %s', trigger_function);
            END IF;
        END IF;
    END LOOP;
END
$$;


CREATE OR REPLACE FUNCTION softview.require_actor(rel regclass, required boolean DEFAULT true) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF required IS NULL THEN
        RAISE EXCEPTION 'invalid setting: require_actor takes true or false, not NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    UPDATE softview_internal.tables SET require_actor = required WHERE relation = rel;
    PERFORM softview_internal.require_enabled(rel);
    PERFORM softview_internal.install_archive(rel);
END
$$;


-- Row operations by key, for psql and the `softview` command. A key is given as text, one
-- element per primary-key column, and cast to each column's type.
CREATE OR REPLACE FUNCTION softview_internal.key_condition(rel regclass, key text[]) RETURNS text
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
    RETURN (SELECT string_agg(format('%I = %L::%s', c, v,
                                     (SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                                      WHERE attrelid = rel AND attname = c)), ' AND ')
            FROM unnest(columns, key) AS u(c, v));
END
$$;


-- Why `rel` is not an enabled table, for an error's DETAIL: the commonest slip is naming the
-- view instead of its table.
CREATE OR REPLACE FUNCTION softview_internal.why_not_enabled(rel regclass) RETURNS text
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
                         AND to_regclass(softview_internal.view_name(t.relation)) = rel) AS made_for ON true
    WHERE c.oid = rel
$$;


CREATE OR REPLACE FUNCTION softview_internal.require_enabled(rel regclass) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM softview_internal.checked_table(rel);
    IF NOT EXISTS (SELECT 1 FROM softview_internal.tables WHERE relation = rel) THEN
        RAISE EXCEPTION 'table is not enabled for softview: %', softview_internal.qualified_name(rel)
            USING ERRCODE = 'undefined_table', DETAIL = softview_internal.why_not_enabled(rel);
    END IF;
END
$$;


-- A table argument of the public API, which must not be NULL: a STRICT function would return
-- NULL and do nothing, silently.
CREATE OR REPLACE FUNCTION softview_internal.checked_table(rel regclass) RETURNS regclass
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF rel IS NULL THEN
        RAISE EXCEPTION 'invalid table: it must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    RETURN rel;
END
$$;


CREATE OR REPLACE FUNCTION softview_internal.check_enableable(rel regclass) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM softview_internal.checked_table(rel);
    IF (SELECT relkind FROM pg_class WHERE oid = rel) NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'cannot enable %: it is not a table', rel
            USING ERRCODE = 'wrong_object_type', DETAIL = softview_internal.why_not_enabled(rel);
    END IF;
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


-- How long deleted rows of `rel` wait before a purge: its own grace period or the default.
CREATE OR REPLACE FUNCTION softview.grace_period(rel regclass) RETURNS interval
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM softview_internal.require_soft_deletable(rel);
    RETURN (SELECT coalesce(t.grace_period, s.default_grace_period)
            FROM softview_internal.tables t CROSS JOIN softview_internal.settings s
            WHERE t.relation = rel);
END
$$;


