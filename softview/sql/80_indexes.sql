-- Which indexes of an enabled table deleted rows spoil, and which foreign keys lack one.

-- The indexes of an enabled table that do not serve live rows well: unique indexes that deleted
-- rows still hold keys in, and indexes that deleted rows fill. An index that serves a foreign key
-- (its leading columns are the key's) must stay full: deleting or purging a parent finds the
-- children, deleted ones included, through it. So a foreign key served only by partial indexes,
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
