-- Names, keys and foreign keys of enabled tables, read from the system catalogs.

-- Quoted, schema-qualified names, independent of search_path.
CREATE FUNCTION softview_internal.qualified_name(rel regclass) RETURNS text
LANGUAGE sql STABLE STRICT AS $$
    SELECT format('%I.%I', n.nspname, c.relname)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = rel
$$;

CREATE FUNCTION softview_internal.view_name(rel regclass) RETURNS text
LANGUAGE sql STABLE STRICT AS $$
    SELECT format('%I.%I', n.nspname, 'active_' || c.relname)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = rel
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
           EXISTS (SELECT 1
                   FROM unnest(c.conkey) AS k(attnum)
                   JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
                   WHERE NOT a.attnotnull)
    FROM pg_constraint c
    JOIN softview_internal.tables p ON p.relation = c.confrelid
    WHERE c.contype = 'f'
      AND c.conrelid = rel
      AND c.confrelid <> rel
      AND p.position < coalesce((SELECT t.position FROM softview_internal.tables t WHERE t.relation = rel),
                                9223372036854775807)
    ORDER BY c.conname
$$;

-- `a = (row).a AND b = (row).b` for the given columns; `row_ref` is the row expression.
CREATE FUNCTION softview_internal.match_columns(left_alias text, left_columns name[], row_ref text, right_columns name[])
RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT string_agg(format('%s%I = %s.%I', left_alias, l, row_ref, r), ' AND ' ORDER BY n)
    FROM unnest(left_columns, right_columns) WITH ORDINALITY AS u(l, r, n)
$$;
