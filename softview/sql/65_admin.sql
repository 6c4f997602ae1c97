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
