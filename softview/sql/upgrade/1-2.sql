-- The softview toolkit, from revision 1 to revision 2. Enabled tables, their settings and the
-- archive stay; the views are re-created.
--
-- Revision 2 places every enabled table after the parents it references, whatever order they
-- were enabled in. Revision 1 kept the enable order, so a table enabled before its parent got a
-- view that did not hide its rows when the parent was deleted; this step repairs those views.
-- Revision 2 also makes the row functions, link inserts and the purge truthful under
-- concurrency, and scopes the purge's actor to its own deletes.

DO $$
BEGIN
    IF to_regprocedure('softview.version()') IS NULL THEN
        RAISE EXCEPTION 'the softview toolkit is not installed; install it instead of upgrading'
            USING ERRCODE = 'undefined_object';
    END IF;
    IF softview.version() <> 1 THEN
        RAISE EXCEPTION 'this step upgrades the softview toolkit from revision 1, but revision % is installed', softview.version()
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION softview.version() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT 2 $$;

-- The enable order keeps its identity; `position` becomes the sorted order.
ALTER TABLE softview_internal.tables RENAME COLUMN position TO enable_order;
ALTER TABLE softview_internal.tables DROP CONSTRAINT tables_position_key;
ALTER TABLE softview_internal.tables ADD UNIQUE (enable_order);
ALTER SEQUENCE softview_internal.tables_position_seq RENAME TO tables_enable_order_seq;
ALTER TABLE softview_internal.tables ADD COLUMN position bigint;
UPDATE softview_internal.tables SET position = enable_order;
ALTER TABLE softview_internal.tables ALTER COLUMN position SET NOT NULL;
COMMENT ON COLUMN softview_internal.tables.enable_order IS 'the order tables were enabled in; it breaks foreign-key cycles';
COMMENT ON COLUMN softview_internal.tables.position IS 'parents before children, whatever the enable order; set by sort_tables';

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


-- After `rel` joined the catalog: sorts it, then (re)creates the archive trigger, the view of
-- `rel` and the views built on it. Tables enabled earlier that reference `rel` follow it from
-- now on; a NOTICE names them, and those a foreign-key cycle keeps from following it.
CREATE OR REPLACE FUNCTION softview_internal.install_enabled(rel regclass) RETURNS regclass
LANGUAGE plpgsql AS $$
DECLARE
    followed_before regclass[] := array(SELECT softview_internal.followers(rel));
    member regclass;
BEGIN
    PERFORM softview_internal.sort_tables();
    PERFORM softview.refresh(rel);
    FOR member IN SELECT f FROM softview_internal.followers(rel) AS f WHERE f <> ALL (followed_before) LOOP
        RAISE NOTICE 'the view of % now also hides rows whose row in % is deleted', member, rel;
    END LOOP;
    FOR member IN
        SELECT DISTINCT c.conrelid::regclass
        FROM pg_constraint c JOIN softview_internal.tables t ON t.relation = c.conrelid
        WHERE c.contype = 'f' AND c.confrelid = rel AND c.conrelid <> rel
          AND c.conrelid::regclass <> ALL (array(SELECT softview_internal.followers(rel)))
    LOOP
        RAISE NOTICE 'the view of % does not follow %: that would close a foreign-key cycle', member, rel
            USING HINT = 'a cycle is broken by enable order: the table enabled first is the parent';
    END LOOP;
    RETURN softview_internal.view_name(rel)::regclass;
END
$$;


-- Enables a table that has `deleted_at timestamptz`: creates active_<table>, whose DELETE
-- soft-deletes. Calling it again re-creates the view. Returns the view.
CREATE OR REPLACE FUNCTION softview.enable(rel regclass) RETURNS regclass
LANGUAGE plpgsql AS $$
DECLARE
    deleted_at_type text;
BEGIN
    PERFORM softview_internal.check_enableable(rel);
    SELECT format_type(atttypid, atttypmod) INTO deleted_at_type
    FROM pg_attribute
    WHERE attrelid = rel AND attname = 'deleted_at' AND attnum > 0 AND NOT attisdropped;
    IF deleted_at_type IS NULL THEN
        RAISE EXCEPTION 'cannot enable %: it has no column deleted_at', rel
            USING ERRCODE = 'undefined_column',
                  HINT = format('ALTER TABLE %s ADD COLUMN deleted_at timestamptz; a table whose rows only hide with their parents takes softview.enable_dependent', rel);
    ELSIF deleted_at_type <> 'timestamp with time zone' THEN
        RAISE EXCEPTION 'cannot enable %: column deleted_at is %, not timestamptz', rel, deleted_at_type
            USING ERRCODE = 'datatype_mismatch';
    END IF;
    INSERT INTO softview_internal.tables (relation, soft_deletable, position)
    VALUES (rel, true, (SELECT coalesce(max(position), 0) + 1 FROM softview_internal.tables))
    ON CONFLICT (relation) DO UPDATE SET soft_deletable = true;
    -- The trash, newest first, and the purge, oldest first, read deleted rows by deleted_at.
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %s (deleted_at) WHERE deleted_at IS NOT NULL',
        left((SELECT relname FROM pg_class WHERE oid = rel), 50) || '_trash', softview_internal.qualified_name(rel));
    RETURN softview_internal.install_enabled(rel);
END
$$;


-- Enables a table without deleted_at (a link such as Pagila's film_actor) whose rows are hidden
-- whenever one of its enabled parents is; DELETE through its view removes the row.
CREATE OR REPLACE FUNCTION softview.enable_dependent(rel regclass) RETURNS regclass
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM softview_internal.check_enableable(rel);
    IF NOT EXISTS (SELECT 1 FROM softview_internal.parents(rel)) THEN
        RAISE EXCEPTION 'cannot enable % as a dependent: it has no foreign key to an enabled table', rel
            USING ERRCODE = 'invalid_table_definition',
                  HINT = 'enable its parents first, or add deleted_at and use softview.enable';
    END IF;
    INSERT INTO softview_internal.tables (relation, soft_deletable, position)
    VALUES (rel, EXISTS (SELECT 1 FROM pg_attribute
                         WHERE attrelid = rel AND attname = 'deleted_at' AND NOT attisdropped),
            (SELECT coalesce(max(position), 0) + 1 FROM softview_internal.tables))
    ON CONFLICT (relation) DO NOTHING;
    RETURN softview_internal.install_enabled(rel);
END
$$;


-- The enabled tables whose views filter on the view of `rel` directly.
CREATE OR REPLACE FUNCTION softview_internal.followers(rel regclass) RETURNS SETOF regclass
LANGUAGE sql STABLE STRICT AS $$
    SELECT t.relation FROM softview_internal.tables t
    WHERE t.relation <> rel
      AND EXISTS (SELECT 1 FROM softview_internal.parents(t.relation) p WHERE p.parent = rel)
    ORDER BY t.position
$$;


-- `rel` and every enabled table whose view is built on its view, parents first.
CREATE OR REPLACE FUNCTION softview_internal.with_dependents(rel regclass) RETURNS SETOF regclass
LANGUAGE sql STABLE STRICT AS $$
    WITH RECURSIVE family(relation) AS (
        SELECT rel
        UNION
        SELECT follower FROM family f CROSS JOIN LATERAL softview_internal.followers(f.relation) AS follower
    )
    SELECT f.relation FROM family f JOIN softview_internal.tables t USING (relation) ORDER BY t.position
$$;


-- Sorts the catalog again and re-creates every view, parents first: the repair for views made
-- in another order (by revision 1, which kept enable order).
CREATE OR REPLACE FUNCTION softview.refresh_all() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    member regclass;
BEGIN
    PERFORM softview_internal.sort_tables();
    FOR member IN SELECT relation FROM softview_internal.tables ORDER BY position LOOP
        PERFORM softview.refresh(member);
    END LOOP;
END
$$;


-- INSERT through the view of a table with enabled parents. For a link (two or more parents)
-- the insert is idempotent: an existing live link is returned, a soft-deleted one revived.
-- Another transaction may delete or revive the link between those steps, so they are tried
-- again; when no attempt settles it, a plain INSERT raises PostgreSQL's own unique violation,
-- which names the constraint.
CREATE OR REPLACE FUNCTION softview_internal.on_view_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    rel regclass := TG_ARGV[0]::regclass;
    soft_deletable boolean := (SELECT t.soft_deletable FROM softview_internal.tables t WHERE t.relation = rel);
    columns name[] := softview_internal.writable_columns(TG_RELID, rel, false);
    insert_row text := format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s',
        softview_internal.qualified_name(rel),
        (SELECT string_agg(quote_ident(c), ', ') FROM unnest(columns) AS c),
        (SELECT string_agg(format('($1).%I', c), ', ') FROM unnest(columns) AS c));
    view_columns text := (SELECT string_agg(quote_ident(c), ', ') FROM softview_internal.columns(TG_RELID) AS c);
    returning_all text := ' RETURNING ' || view_columns;
    link_columns name[];
    key_list text := (SELECT string_agg(quote_ident(c), ', ') FROM unnest(softview_internal.primary_key(rel)) AS c);
    existing_match text;
    written record;
BEGIN
    PERFORM softview_internal.check_parents(rel, NEW);
    IF (SELECT count(*) FROM softview_internal.parents(rel)) >= 2 THEN
        link_columns := array(SELECT c FROM softview_internal.parents(rel) AS p, unnest(p.child_columns) AS c);
        existing_match := softview_internal.match_columns('', link_columns, '($1)', link_columns);
        FOR attempt IN 1..3 LOOP
            IF soft_deletable THEN
                EXECUTE format('UPDATE %s SET deleted_at = NULL WHERE (%s) IN
                                  (SELECT %s FROM %s WHERE %s AND deleted_at IS NOT NULL
                                   AND NOT EXISTS (SELECT 1 FROM %s WHERE %s AND deleted_at IS NULL)
                                   ORDER BY deleted_at DESC LIMIT 1)',
                    softview_internal.qualified_name(rel), key_list, key_list,
                    softview_internal.qualified_name(rel), existing_match,
                    softview_internal.qualified_name(rel), existing_match) || returning_all
                INTO written USING NEW;
                EXIT WHEN written IS NOT NULL;
            END IF;
            EXECUTE insert_row || ' ON CONFLICT DO NOTHING' || returning_all INTO written USING NEW;
            EXIT WHEN written IS NOT NULL;
            EXECUTE format('SELECT %s FROM %s WHERE %s%s FOR SHARE',
                view_columns, softview_internal.qualified_name(rel), existing_match,
                CASE WHEN soft_deletable THEN ' AND deleted_at IS NULL' ELSE '' END)
            INTO written USING NEW;
            EXIT WHEN written IS NOT NULL;
        END LOOP;
        IF written IS NULL THEN
            EXECUTE insert_row || returning_all INTO written USING NEW;
        END IF;
    ELSE
        EXECUTE insert_row || returning_all INTO written USING NEW;
    END IF;
    NEW := written;
    RETURN NEW;
END
$$;


-- Soft-deletes one row; a row already deleted keeps its deleted_at. Returns the row as it is
-- when the call returns: deleted, and locked until the end of the transaction.
CREATE OR REPLACE FUNCTION softview.soft_delete_row(rel regclass, key text[]) RETURNS jsonb
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
        EXECUTE format('SELECT to_jsonb(t) FROM %s t WHERE %s FOR UPDATE', softview_internal.qualified_name(rel), condition)
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


-- Hard-deletes (and so archives) up to `batch_size` purgeable rows of `rel`, oldest first,
-- skipping rows another transaction holds (a restore, another purge). Returns how many.
-- Run each batch in a transaction of its own. The purge's actor and reason label only its own
-- deletes: the caller's settings are back when it returns.
CREATE OR REPLACE FUNCTION softview.purge_batch(rel regclass, batch_size integer, older_than interval DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    purged bigint;
    previous_actor text := current_setting('softview.actor', true);
    previous_reason text := current_setting('softview.reason', true);
BEGIN
    IF batch_size IS NULL OR batch_size < 1 THEN
        RAISE EXCEPTION 'a purge batch must hold at least one row, got %', batch_size
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM set_config('softview.actor', coalesce(softview_internal.current_actor(), 'softview purge'), true);
    PERFORM set_config('softview.reason', coalesce(softview_internal.current_reason(),
        format('deleted more than %s ago', coalesce(older_than, softview.grace_period(rel)))), true);
    PERFORM set_config('softview.operation', 'purge', true);
    -- The rows are locked by the subquery, so their ctids stay theirs until the DELETE.
    EXECUTE format('DELETE FROM %s WHERE ctid = ANY (ARRAY(%s ORDER BY c.deleted_at LIMIT %s FOR UPDATE SKIP LOCKED))',
        softview_internal.qualified_name(rel), softview_internal.purge_candidates(rel, older_than, 'c.ctid'), batch_size);
    GET DIAGNOSTICS purged = ROW_COUNT;
    PERFORM set_config('softview.actor', coalesce(previous_actor, ''), true);
    PERFORM set_config('softview.reason', coalesce(previous_reason, ''), true);
    PERFORM set_config('softview.operation', '', true);
    RETURN purged;
END
$$;


-- The indexes of an enabled table that do not serve live rows well: unique indexes that deleted
-- rows still hold keys in, and indexes that deleted rows fill. An index that serves a foreign key
-- (its leading columns are the key's) must stay full: deleting or purging a parent finds the
-- children, deleted ones included, through it. So a foreign key served only by partial indexes,
-- or by none, is listed too, with the index to create. The primary key and the trash index
-- (deleted rows by deleted_at) are meant to cover every row and are not listed.
CREATE OR REPLACE FUNCTION softview.index_check(rel regclass)
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


-- Enabled tables as the generator and the command line see them; `position` is the sorted
-- order now.
CREATE OR REPLACE VIEW softview.enabled_tables AS
SELECT t.relation,
       n.nspname AS schema_name,
       c.relname AS table_name,
       'active_' || c.relname AS view_name,
       t.soft_deletable,
       softview_internal.primary_key(t.relation) AS primary_key,
       CASE (SELECT count(*) FROM softview_internal.parents(t.relation))
           WHEN 0 THEN 'table' WHEN 1 THEN 'child' ELSE 'link' END AS kind,
       t.position
FROM softview_internal.tables t
JOIN pg_class c ON c.oid = t.relation
JOIN pg_namespace n ON n.oid = c.relnamespace;

SELECT softview.refresh_all();
