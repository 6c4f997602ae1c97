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
    followed_now regclass[];
    member regclass;
BEGIN
    PERFORM softview_internal.sort_tables();
    PERFORM softview.refresh(rel);
    followed_now := array(SELECT softview_internal.followers(rel));
    FOR member IN SELECT f FROM unnest(followed_now) AS f WHERE f <> ALL (followed_before) LOOP
        RAISE NOTICE 'the view of % now also hides rows whose row in % is deleted', member, rel;
    END LOOP;
    FOR member IN
        SELECT DISTINCT c.conrelid::regclass
        FROM pg_constraint c JOIN softview_internal.tables t ON t.relation = c.conrelid
        WHERE c.contype = 'f' AND c.confrelid = rel AND c.conrelid <> rel
          AND c.conrelid::regclass <> ALL (followed_now)
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


-- The trigger function generated for the view of `rel` (see view_trigger_source).
CREATE OR REPLACE FUNCTION softview_internal.trigger_function_name(rel regclass) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT format('softview_internal.%I', 'write_' || rel::oid)
$$;


-- The generated function the triggers of a view call now, if any: it may carry an older name.
CREATE OR REPLACE FUNCTION softview_internal.current_trigger_function(view_rel regclass) RETURNS regprocedure
LANGUAGE sql STABLE AS $$
    SELECT t.tgfoid::regprocedure
    FROM pg_trigger t JOIN pg_proc f ON f.oid = t.tgfoid
    WHERE t.tgrelid = view_rel AND t.tgname = 'softview_delete'
      AND f.pronamespace = 'softview_internal'::regnamespace AND f.proname LIKE 'write\_%'
$$;


-- The source of the trigger function behind the view of `rel`: DELETE soft-deletes (or, for a
-- dependent without deleted_at, removes), and for a table with enabled parents INSERT and UPDATE
-- check the parents and write the table. It is generated per table with every name written in,
-- so each write runs static SQL with a cached plan and no catalog lookups; install_view creates
-- it again whenever the view changes. Only a failing parent check takes the generic path, for
-- its message.
--
-- For a link (two or more parents) an insert is idempotent: a live link is returned, a
-- soft-deleted one revived. Another transaction may delete or revive the link between those
-- steps, so they are tried again; when no attempt settles it, a plain INSERT raises
-- PostgreSQL's own unique violation, which names the constraint.
CREATE OR REPLACE FUNCTION softview_internal.view_trigger_source(rel regclass, view_rel regclass) RETURNS text
LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE
    table_name text := softview_internal.qualified_name(rel);
    soft_deletable boolean := (SELECT t.soft_deletable FROM softview_internal.tables t WHERE t.relation = rel);
    key name[] := softview_internal.primary_key(rel);
    key_list text := (SELECT string_agg(quote_ident(c), ', ') FROM unnest(key) AS c);
    view_columns text := (SELECT string_agg(quote_ident(c), ', ') FROM softview_internal.columns(view_rel) AS c);
    insert_columns name[] := softview_internal.writable_columns(view_rel, rel, false);
    update_columns name[] := softview_internal.writable_columns(view_rel, rel, true);
    insert_row text;
    parent_checks text := '';
    link_columns name[];
    link_match text;
    fk record;
    on_delete text;
    on_insert text;
    on_update text;
BEGIN
    on_delete := CASE WHEN soft_deletable
        THEN format('UPDATE %s SET deleted_at = now() WHERE %s AND deleted_at IS NULL;',
                    table_name, softview_internal.match_columns('', key, 'OLD', key))
        ELSE format('DELETE FROM %s WHERE %s;', table_name, softview_internal.match_columns('', key, 'OLD', key))
    END;
    FOR fk IN SELECT * FROM softview_internal.parents(rel) LOOP
        parent_checks := parent_checks || format($check$
    IF NOT (%s) AND NOT EXISTS (SELECT 1 FROM %s p WHERE %s) THEN
        PERFORM softview_internal.check_parents(%L::regclass, NEW);
    END IF;$check$,
            (SELECT string_agg(format('NEW.%I IS NULL', c), ' OR ') FROM unnest(fk.child_columns) AS c),
            softview_internal.view_name(fk.parent),
            softview_internal.match_columns('p.', fk.parent_columns, 'NEW', fk.child_columns),
            table_name);
    END LOOP;
    insert_row := format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE VALUES (%s)', table_name,
        (SELECT string_agg(quote_ident(c), ', ') FROM unnest(insert_columns) AS c),
        (SELECT string_agg(format('NEW.%I', c), ', ') FROM unnest(insert_columns) AS c));
    IF (SELECT count(*) FROM softview_internal.parents(rel)) >= 2 THEN
        link_columns := array(SELECT c FROM softview_internal.parents(rel) AS p, unnest(p.child_columns) AS c);
        link_match := softview_internal.match_columns('', link_columns, 'NEW', link_columns);
        on_insert := format($link$FOR attempt IN 1..3 LOOP%s
            %s ON CONFLICT DO NOTHING RETURNING %s INTO written;
            IF FOUND THEN NEW := written; RETURN NEW; END IF;
            SELECT %s INTO written FROM %s WHERE %s%s FOR SHARE;
            IF FOUND THEN NEW := written; RETURN NEW; END IF;
        END LOOP;
        %s RETURNING %s INTO written;$link$,
            CASE WHEN soft_deletable THEN format($revive$
            UPDATE %s SET deleted_at = NULL WHERE (%s) IN
                (SELECT %s FROM %s WHERE %s AND deleted_at IS NOT NULL
                 AND NOT EXISTS (SELECT 1 FROM %s WHERE %s AND deleted_at IS NULL)
                 ORDER BY deleted_at DESC LIMIT 1)
            RETURNING %s INTO written;
            IF FOUND THEN NEW := written; RETURN NEW; END IF;$revive$,
                table_name, key_list, key_list, table_name, link_match, table_name, link_match, view_columns)
            ELSE '' END,
            insert_row, view_columns,
            view_columns, table_name, link_match, CASE WHEN soft_deletable THEN ' AND deleted_at IS NULL' ELSE '' END,
            insert_row, view_columns);
    ELSE
        on_insert := format('%s RETURNING %s INTO written;', insert_row, view_columns);
    END IF;
    on_update := format($update$UPDATE %s SET %s WHERE %s RETURNING %s INTO written;
        IF NOT FOUND THEN RETURN NULL; END IF;$update$,
        table_name,
        (SELECT string_agg(format('%I = NEW.%I', c, c), ', ') FROM unnest(update_columns) AS c),
        softview_internal.match_columns('', key, 'OLD', key), view_columns);
    RETURN format($function$#variable_conflict use_column
DECLARE
    written record;
BEGIN
    IF TG_OP = 'DELETE' THEN
        %s
        RETURN OLD;
    END IF;%s
    IF TG_OP = 'INSERT' THEN
        %s
    ELSE
        %s
    END IF;
    NEW := written;
    RETURN NEW;
END$function$,
        on_delete, parent_checks, on_insert, on_update);
END
$$;


-- Creates or replaces the view of one enabled table with its defaults, triggers, comment and
-- any grants saved by drop_views.
CREATE OR REPLACE FUNCTION softview_internal.install_view(rel regclass) RETURNS regclass
LANGUAGE plpgsql AS $$
DECLARE
    view_name text := softview_internal.view_name(rel);
    has_parents boolean := EXISTS (SELECT 1 FROM softview_internal.parents(rel));
    trigger_function text := softview_internal.trigger_function_name(rel);
    previous_function regprocedure;
    saved aclitem[];
    col record;
    grant_row record;
BEGIN
    EXECUTE format('CREATE OR REPLACE VIEW %s WITH (security_invoker = true) AS %s',
        view_name, softview_internal.view_query(rel));
    EXECUTE format('COMMENT ON VIEW %s IS %L', view_name,
        format('live rows of %s (managed by softview; re-create with softview.refresh)',
               softview_internal.qualified_name(rel)));

    -- DELETE through the view soft-deletes (or, for a dependent without deleted_at, removes).
    previous_function := softview_internal.current_trigger_function(view_name::regclass);
    EXECUTE format('CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS %L',
        trigger_function, softview_internal.view_trigger_source(rel, view_name::regclass));
    EXECUTE format('COMMENT ON FUNCTION %s() IS %L', trigger_function,
        format('writes through %s (generated by softview; re-created with softview.refresh)', view_name));
    EXECUTE format('CREATE OR REPLACE TRIGGER softview_delete INSTEAD OF DELETE ON %s
                    FOR EACH ROW EXECUTE FUNCTION %s()', view_name, trigger_function);

    -- The view probes each parent's live keys; a partial index on them answers from the
    -- index alone, without visiting the parent's rows.
    FOR col IN SELECT DISTINCT p.parent, p.parent_columns FROM softview_internal.parents(rel) AS p
               JOIN softview_internal.tables t ON t.relation = p.parent AND t.soft_deletable
    LOOP
        EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %s (%s) WHERE deleted_at IS NULL',
            left((SELECT relname FROM pg_class WHERE oid = col.parent), 50) || '_live_keys',
            softview_internal.qualified_name(col.parent),
            (SELECT string_agg(quote_ident(c), ', ') FROM unnest(col.parent_columns) AS c));
    END LOOP;

    IF has_parents THEN
        -- Writes through the view check that the parents are live, so no write through it can
        -- create a row the view would then hide. NEW only carries defaults the view declares.
        FOR col IN
            SELECT a.attname, a.attidentity, pg_get_expr(d.adbin, d.adrelid) AS default_expr
            FROM pg_attribute a
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
              AND (d.adbin IS NOT NULL OR a.attidentity <> '')
        LOOP
            EXECUTE format('ALTER VIEW %s ALTER COLUMN %I SET DEFAULT %s', view_name, col.attname,
                CASE WHEN col.attidentity <> ''
                     THEN format('nextval(%L::regclass)',
                                 pg_get_serial_sequence(softview_internal.qualified_name(rel), col.attname))
                     ELSE col.default_expr END);
        END LOOP;
        EXECUTE format('CREATE OR REPLACE TRIGGER softview_insert INSTEAD OF INSERT ON %s
                        FOR EACH ROW EXECUTE FUNCTION %s()', view_name, trigger_function);
        EXECUTE format('CREATE OR REPLACE TRIGGER softview_update INSTEAD OF UPDATE ON %s
                        FOR EACH ROW EXECUTE FUNCTION %s()', view_name, trigger_function);
    END IF;
    -- The function the view used before, when its name changed (a table restored from a dump
    -- has a new oid): nothing else calls it.
    IF previous_function IS NOT NULL AND previous_function <> to_regprocedure(trigger_function || '()') THEN
        EXECUTE format('DROP FUNCTION %s', previous_function);
    END IF;

    SELECT saved_view_acl INTO saved FROM softview_internal.tables WHERE relation = rel;
    FOR grant_row IN
        SELECT a.grantee, a.privilege_type, a.is_grantable
        FROM aclexplode(saved) AS a
        WHERE saved IS NOT NULL AND a.grantee <> (SELECT relowner FROM pg_class WHERE oid = rel)
    LOOP
        EXECUTE format('GRANT %s ON %s TO %s%s', grant_row.privilege_type, view_name,
            CASE WHEN grant_row.grantee = 0 THEN 'PUBLIC'
                 ELSE quote_ident(pg_get_userbyid(grant_row.grantee)) END,
            CASE WHEN grant_row.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
    UPDATE softview_internal.tables SET saved_view_acl = NULL WHERE relation = rel;
    RETURN view_name::regclass;
END
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
    IF NOT EXISTS (SELECT 1 FROM softview_internal.tables WHERE relation = rel) THEN
        RAISE EXCEPTION 'table is not enabled for softview: %', softview_internal.qualified_name(rel) USING ERRCODE = 'undefined_table';
    END IF;
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

-- Each view's triggers now call a function generated for it; the shared ones are unused.
DROP FUNCTION softview_internal.on_view_delete(), softview_internal.on_view_insert(),
              softview_internal.on_view_update();
