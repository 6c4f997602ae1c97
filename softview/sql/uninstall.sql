-- Removes the softview toolkit. Disable the enabled tables first: their views and triggers use
-- the toolkit's functions, and without it a DELETE through a view would remove rows for good,
-- unarchived. The script refuses while any is enabled, naming them.
DO $$
DECLARE
    enabled text;
BEGIN
    SELECT string_agg(t.relation::text, ', ' ORDER BY t.position) INTO enabled
    FROM softview_internal.tables t
    JOIN pg_class c ON c.oid = t.relation AND c.relkind IN ('r', 'p');
    IF enabled IS NOT NULL THEN
        RAISE EXCEPTION 'cannot remove the softview toolkit: tables % are still enabled', enabled
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'softview.disable each of them first (children before parents)';
    END IF;
END
$$;
DROP SCHEMA softview CASCADE;
DROP SCHEMA softview_internal CASCADE;
