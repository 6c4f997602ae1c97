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
