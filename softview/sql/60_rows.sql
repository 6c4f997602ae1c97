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

