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
