-- Which indexes of an enabled table deleted rows spoil.

-- The indexes of an enabled table that do not serve live rows well: unique indexes that deleted
-- rows still hold keys in, and indexes that deleted rows fill. The primary key and the trash
-- index (deleted rows by deleted_at) are meant to cover every row and are not listed.
CREATE FUNCTION softview.index_check(rel regclass)
RETURNS TABLE (index_name text, definition text, problem text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM softview_internal.require_soft_deletable(rel);
    RETURN QUERY
    SELECT i.indexrelid::regclass::text,
           pg_get_indexdef(i.indexrelid),
           CASE WHEN i.indisunique
                THEN 'unique across deleted rows: a deleted row keeps its key; add WHERE deleted_at IS NULL'
                ELSE 'not partial: deleted rows fill it and slow live reads; add WHERE deleted_at IS NULL'
           END
    FROM pg_index i
    WHERE i.indrelid = rel
      AND NOT i.indisprimary
      AND coalesce(pg_get_expr(i.indpred, i.indrelid), '') NOT LIKE '%deleted_at IS NULL%'
      AND coalesce(pg_get_expr(i.indpred, i.indrelid), '') NOT LIKE '%deleted_at IS NOT NULL%'
    ORDER BY 1;
END
$$;
