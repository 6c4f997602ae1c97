-- Making, refreshing and dropping the active_* views, and enabling tables.

-- The view's query: the table's columns, rows that are not deleted, and whose parents (by
-- their own active views, so hiding cascades through any depth) are visible. Where the table
-- refers to itself (a task's parent task), a row is also hidden while any of its ancestors is
-- deleted or hidden by its own parents: a view cannot read itself, so the ancestors are walked
-- by a recursive query per row (one index probe per level; docs/benchmarks.md).
CREATE FUNCTION softview_internal.view_query(rel regclass) RETURNS text
LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE
    columns text;
    soft_deletable boolean := (SELECT t.soft_deletable FROM softview_internal.tables t WHERE t.relation = rel);
    conditions text[] := '{}';
    p record;
    hidden text[];
    walked name[];
    walked_select text;
BEGIN
    SELECT string_agg(format('t.%I', c), ', ') INTO columns FROM softview_internal.columns(rel) AS c;
    IF soft_deletable THEN
        conditions := conditions || 't.deleted_at IS NULL'::text;
    END IF;
    FOR p IN SELECT * FROM softview_internal.parents(rel) LOOP
        conditions := conditions || softview_internal.parent_visible(rel, p.constraint_name, p.parent, p.child_columns,
                                                                     p.parent_columns, p.nullable, 't');
    END LOOP;
    FOR p IN SELECT * FROM softview_internal.self_references(rel)
             WHERE (SELECT t.hide_descendants FROM softview_internal.tables t WHERE t.relation = rel) LOOP
        -- What hides an ancestor x: its deleted_at, or a parent of its own that is not visible.
        hidden := CASE WHEN soft_deletable THEN ARRAY['x.deleted_at IS NOT NULL'] ELSE '{}' END
                  || array(SELECT format('NOT %s', softview_internal.parent_visible(rel, o.constraint_name, o.parent,
                                                       o.child_columns, o.parent_columns, o.nullable, 'x'))
                           FROM softview_internal.parents(rel) AS o);
        CONTINUE WHEN cardinality(hidden) = 0;
        -- The columns the walk needs: the keys it follows and what hides a row.
        walked := array(SELECT DISTINCT c
                        FROM unnest(p.parent_columns || p.child_columns
                                    || CASE WHEN soft_deletable THEN '{deleted_at}'::name[] ELSE '{}' END
                                    || array(SELECT c FROM softview_internal.parents(rel) AS o,
                                                           unnest(o.child_columns) AS c)) AS c
                        ORDER BY c);
        walked_select := (SELECT string_agg(format('a.%I', c), ', ') FROM unnest(walked) AS c);
        conditions := conditions || format(
            '(%s OR NOT EXISTS (WITH RECURSIVE ancestor (%s) AS (
                 SELECT %s FROM %s a WHERE %s
                 UNION
                 SELECT %s FROM %s a JOIN ancestor x ON %s)
             SELECT 1 FROM ancestor x WHERE %s))',
            (SELECT string_agg(format('t.%I IS NULL', c), ' OR ') FROM unnest(p.child_columns) AS c),
            (SELECT string_agg(quote_ident(c), ', ') FROM unnest(walked) AS c),
            walked_select,
            softview_internal.qualified_name(rel),
            softview_internal.match_columns('a.', p.parent_columns, 't', p.child_columns,
                                           softview_internal.foreign_key_operators(rel, p.constraint_name)),
            walked_select,
            softview_internal.qualified_name(rel),
            softview_internal.match_columns('a.', p.parent_columns, 'x', p.child_columns,
                                           softview_internal.foreign_key_operators(rel, p.constraint_name)),
            array_to_string(hidden, ' OR '));
    END LOOP;
    RETURN format('SELECT %s FROM %s t WHERE %s',
        columns, softview_internal.qualified_name(rel),
        coalesce(nullif(array_to_string(conditions, ' AND '), ''), 'true'));
END
$$;

-- `row_alias`'s reference through foreign key `constraint_name` names a row the parent's view
-- shows, or, when its columns may be NULL, is unset. (A bare EXISTS, which PostgreSQL can turn
-- into a semi-join, where the key cannot be NULL.)
CREATE FUNCTION softview_internal.parent_visible(rel regclass, constraint_name name, parent regclass,
                                                child_columns name[], parent_columns name[],
                                                nullable boolean, row_alias text)
RETURNS text
LANGUAGE sql STABLE STRICT AS $$
    SELECT CASE WHEN nullable
                THEN format('(%s OR %s)',
                            (SELECT string_agg(format('%s.%I IS NULL', row_alias, c), ' OR ') FROM unnest(child_columns) AS c),
                            visible)
                ELSE visible END
    FROM (SELECT format('EXISTS (SELECT 1 FROM %s p WHERE %s)', softview_internal.view_name(parent),
                        softview_internal.match_columns('p.', parent_columns, row_alias, child_columns,
                                                        softview_internal.foreign_key_operators(rel, constraint_name)))
                 AS visible) AS v
$$;

-- The trigger function behind the view of `rel`, generated from the catalog (see
-- view_trigger_source). It lives in softview_internal, where only the toolkit's owner creates
-- objects, so this runs as that owner for the table's owner; the function itself runs with
-- the rights and the search_path of whoever writes through the view.
CREATE FUNCTION softview_internal.install_write_function(rel regclass) RETURNS regprocedure
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    view_rel regclass := softview_internal.view_of(rel);
    trigger_function text := softview_internal.trigger_function_name(rel);
BEGIN
    PERFORM softview_internal.require_enabled(rel);
    PERFORM softview_internal.require_owner(rel, 'refresh its view');
    IF view_rel IS NULL OR NOT EXISTS (
        SELECT 1 FROM pg_rewrite r JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
        WHERE r.ev_class = view_rel AND d.refclassid = 'pg_class'::regclass AND d.refobjid = rel)
    THEN
        RAISE EXCEPTION 'cannot enable %: % is not a view of it', softview_internal.qualified_name(rel),
                        softview_internal.view_name(rel)
            USING ERRCODE = 'wrong_object_type';
    END IF;
    EXECUTE format('CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS %L',
        trigger_function, softview_internal.view_trigger_source(rel, view_rel));
    EXECUTE format('COMMENT ON FUNCTION %s() IS %L', trigger_function,
        format('writes through %s (generated by softview; re-created with softview.refresh)', view_rel));
    RETURN to_regprocedure(trigger_function || '()');
END
$$;

-- Drops a generated trigger function that no trigger uses any more (its view was dropped, or
-- the table got a new oid).
CREATE FUNCTION softview_internal.drop_write_function(generated regprocedure) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_proc WHERE oid = generated
                 AND pronamespace = 'softview_internal'::regnamespace AND proname LIKE 'write\_%')
       AND NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgfoid = generated) THEN
        EXECUTE format('DROP FUNCTION %s', generated);
    END IF;
END
$$;

-- Keeps the grants on the view of `rel`, which is about to be dropped, for the next refresh.
-- They are read from the view itself: nobody can plant grants for refresh to make.
CREATE FUNCTION softview_internal.save_view_grants(rel regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM softview_internal.require_owner(rel, 'drop its view');
    UPDATE softview_internal.tables
    SET saved_view_acl = (SELECT relacl FROM pg_class WHERE oid = softview_internal.view_of(rel))
    WHERE relation = rel;
END
$$;

-- The grants save_view_grants kept for the view of `rel`, forgotten once taken.
CREATE FUNCTION softview_internal.take_view_grants(rel regclass) RETURNS aclitem[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    saved aclitem[];
BEGIN
    PERFORM softview_internal.require_owner(rel, 'refresh its view');
    SELECT saved_view_acl INTO saved FROM softview_internal.tables WHERE relation = rel FOR UPDATE;
    IF saved IS NOT NULL THEN
        UPDATE softview_internal.tables SET saved_view_acl = NULL WHERE relation = rel;
    END IF;
    RETURN saved;
END
$$;

-- Puts `rel` into the catalog (soft-deletable when it has deleted_at), or updates that.
CREATE FUNCTION softview_internal.register_table(rel regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM softview_internal.check_enableable(rel);
    PERFORM softview_internal.require_owner(rel, 'enable it');
    INSERT INTO softview_internal.tables AS t (relation, soft_deletable, position)
    VALUES (rel, EXISTS (SELECT 1 FROM pg_attribute
                         WHERE attrelid = rel AND attname = 'deleted_at' AND attnum > 0 AND NOT attisdropped),
            (SELECT coalesce(max(position), 0) + 1 FROM softview_internal.tables))
    ON CONFLICT (relation) DO UPDATE SET soft_deletable = excluded.soft_deletable
    WHERE t.soft_deletable IS DISTINCT FROM excluded.soft_deletable;
END
$$;

-- Takes `rel` out of the catalog (softview.disable, after its view and triggers are gone).
CREATE FUNCTION softview_internal.unregister_table(rel regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM softview_internal.require_owner(rel, 'disable it');
    DELETE FROM softview_internal.tables WHERE relation = rel;
END
$$;

-- Whether `rel` has a column deleted_at (of any type: softview.enable checks the type).
CREATE FUNCTION softview_internal.has_deleted_at(rel regclass) RETURNS boolean
LANGUAGE sql STABLE STRICT AS $$
    SELECT EXISTS (SELECT 1 FROM pg_attribute
                   WHERE attrelid = rel AND attname = 'deleted_at' AND attnum > 0 AND NOT attisdropped)
$$;

-- The indexes softview builds for `rel` unless they exist (see ensure_index):
--  _trash       on a table with deleted_at: the trash, newest first, and the purge, oldest
--               first, read deleted rows by deleted_at (built by softview.enable);
--  _live_keys   on each soft-deletable parent: the view of `rel` probes its live keys;
--  _trash_links on a link with deleted_at: an insert through its view looks for a deleted link
--               to revive.
CREATE FUNCTION softview_internal.wanted_indexes(rel regclass)
RETURNS TABLE (relation regclass, key_columns name[], predicate text, suffix text, purpose text)
LANGUAGE sql STABLE STRICT AS $$
    WITH wanted AS (
        SELECT rel AS relation, '{deleted_at}'::name[] AS key_columns, 'deleted_at IS NOT NULL' AS predicate,
               '_trash' AS suffix,
               'the trash, newest first, and the purge, oldest first, read deleted rows by deleted_at' AS purpose
        WHERE softview_internal.has_deleted_at(rel)
        UNION ALL
        SELECT DISTINCT p.parent, p.parent_columns, 'deleted_at IS NULL', '_live_keys',
               'the views of the tables referencing it look up live keys'
        FROM softview_internal.parents(rel) AS p
        JOIN softview_internal.tables t ON t.relation = p.parent AND t.soft_deletable
        UNION ALL
        SELECT rel, array(SELECT c FROM softview_internal.parents(rel) AS p, unnest(p.child_columns) AS c),
               'deleted_at IS NOT NULL', '_trash_links',
               'an insert through its view looks for a deleted link to revive'
        WHERE softview_internal.has_deleted_at(rel)
          AND (SELECT count(*) FROM softview_internal.parents(rel)) >= 2
    )
    SELECT * FROM wanted
$$;

-- Creates or replaces the view of one enabled table with its defaults, triggers, comment and
-- any grants saved by drop_views.
CREATE FUNCTION softview_internal.install_view(rel regclass) RETURNS regclass
LANGUAGE plpgsql AS $$
DECLARE
    view_name text := softview_internal.view_name(rel);
    has_parents boolean := EXISTS (SELECT 1 FROM softview_internal.parents(rel)
                                   UNION ALL SELECT 1 FROM softview_internal.self_references(rel));
    trigger_function text := softview_internal.trigger_function_name(rel);
    previous_function regprocedure;
    saved aclitem[];
    col record;
    grant_row record;
BEGIN
    IF softview_internal.view_of(rel) IS NOT NULL AND NOT softview_internal.is_view_of(softview_internal.view_of(rel), rel) THEN
        RAISE EXCEPTION 'cannot enable %: % already exists and is not its softview view',
                        softview_internal.qualified_name(rel), view_name
            USING ERRCODE = 'duplicate_table',
                  HINT = format('rename or drop %s; softview names the view of %s %s',
                                view_name, softview_internal.qualified_name(rel), view_name);
    END IF;
    EXECUTE format('CREATE OR REPLACE VIEW %s WITH (security_invoker = true) AS %s',
        view_name, softview_internal.view_query(rel));
    EXECUTE format('COMMENT ON VIEW %s IS %L', view_name,
        format('live rows of %s (managed by softview; re-create with softview.refresh)',
               softview_internal.qualified_name(rel)));

    -- DELETE through the view soft-deletes (or, for a dependent without deleted_at, removes).
    previous_function := softview_internal.current_trigger_function(view_name::regclass);
    PERFORM softview_internal.install_write_function(rel);
    EXECUTE format('CREATE OR REPLACE TRIGGER softview_delete INSTEAD OF DELETE ON %s
                    FOR EACH ROW EXECUTE FUNCTION %s()', view_name, trigger_function);

    -- The view probes each parent's live keys, and an insert into a link's view looks for a
    -- deleted link: partial indexes answer both from the index alone.
    FOR col IN SELECT * FROM softview_internal.wanted_indexes(rel) AS w WHERE w.suffix <> '_trash' LOOP
        BEGIN
            PERFORM softview_internal.ensure_index(col.relation, col.key_columns, col.predicate,
                                                   col.suffix, col.purpose);
        EXCEPTION WHEN insufficient_privilege THEN
            -- The parent belongs to another role: its owner creates the index, or does without.
            RAISE NOTICE 'the view of % would probe % faster with an index on its live keys, which only its owner can create',
                         softview_internal.qualified_name(rel), softview_internal.qualified_name(col.relation)
                USING HINT = format('CREATE INDEX ON %s (%s) WHERE %s',
                                    softview_internal.qualified_name(col.relation),
                                    (SELECT string_agg(quote_ident(c), ', ') FROM unnest(col.key_columns) AS c),
                                    col.predicate);
        END;
    END LOOP;

    IF has_parents THEN
        -- Writes through the view check that the parents are live, so no write through it can
        -- create a row the view would then hide. NEW only carries defaults the view declares.
        FOR col IN
            SELECT a.attname, a.attidentity, pg_get_expr(d.adbin, d.adrelid) AS default_expr
            FROM pg_attribute a
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
              AND a.attgenerated = ''  -- a generated column's expression is no default
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
        PERFORM softview_internal.drop_write_function(previous_function);
    END IF;

    saved := softview_internal.take_view_grants(rel);
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
    RETURN view_name::regclass;
END
$$;

-- Whether a catalog row still names a table: a dropped table leaves a dangling OID behind.
CREATE FUNCTION softview_internal.table_exists(rel regclass) RETURNS boolean
LANGUAGE sql STABLE STRICT AS $$
    SELECT EXISTS (SELECT 1 FROM pg_class WHERE oid = rel AND relkind IN ('r', 'p'))
$$;

-- Forgets the enabled tables that no longer exist (DROP TABLE, the end of a temporary
-- table's session): PostgreSQL drops their triggers and views with them but cannot drop their
-- row of the catalog. Enable, disable and refresh_all call it; until then the purge and the
-- listings skip such rows. Returns how many it forgot, with a WARNING for each.
CREATE FUNCTION softview.forget_dropped_tables() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    gone oid;
    forgotten bigint := 0;
BEGIN
    FOR gone IN
        DELETE FROM softview_internal.tables t
        WHERE NOT softview_internal.table_exists(t.relation)
        RETURNING t.relation::oid
    LOOP
        RAISE WARNING 'softview forgot the enabled table with OID %: it was dropped', gone
            USING HINT = 'softview.deleted_records keeps its archived rows under their table name';
        forgotten := forgotten + 1;
    END LOOP;
    RETURN forgotten;
END
$$;

-- Sets `position` so that every parent comes before the tables that reference it, whatever
-- order they were enabled in. Foreign-key cycles (store <-> staff in Pagila) are broken by
-- enable order: taking the tables in that order, a table's references to tables already taken
-- are kept, and so are their references to it unless that would close a cycle.
CREATE FUNCTION softview_internal.sort_tables() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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
    PERFORM softview.forget_dropped_tables();
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

CREATE FUNCTION softview_internal.check_enableable(rel regclass) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM softview_internal.checked_table(rel);
    IF (SELECT relkind FROM pg_class WHERE oid = rel) NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'cannot enable %: it is not a table', rel
            USING ERRCODE = 'wrong_object_type', DETAIL = softview_internal.why_not_enabled(rel);
    END IF;
    PERFORM softview_internal.require_owner(rel, 'enable it');
    IF cardinality(softview_internal.primary_key(rel)) = 0 THEN
        RAISE EXCEPTION 'cannot enable %: it has no primary key', rel
            USING ERRCODE = 'invalid_table_definition',
                  HINT = 'softview identifies rows by primary key in its triggers and archive';
    END IF;
    IF octet_length('active_' || (SELECT relname FROM pg_class WHERE oid = rel)) > 63 THEN
        RAISE EXCEPTION 'cannot enable %: its view would be named active_%, longer than PostgreSQL''s 63 bytes', rel,
                        (SELECT relname FROM pg_class WHERE oid = rel)
            USING ERRCODE = 'name_too_long',
                  HINT = 'rename the table to at most 56 bytes';
    END IF;
END
$$;

-- After `rel` joined the catalog: sorts it, then (re)creates the archive trigger, the view of
-- `rel` and the views built on it. Tables enabled earlier that reference `rel` follow it from
-- now on; a NOTICE names them, and those a foreign-key cycle keeps from following it.
CREATE FUNCTION softview_internal.install_enabled(rel regclass) RETURNS regclass
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
CREATE FUNCTION softview.enable(rel regclass) RETURNS regclass
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
    PERFORM softview_internal.register_table(rel);
    PERFORM softview_internal.ensure_index(rel, w.key_columns, w.predicate, w.suffix, w.purpose)
    FROM softview_internal.wanted_indexes(rel) AS w WHERE w.suffix = '_trash';
    RETURN softview_internal.install_enabled(rel);
END
$$;

-- Enables a table without deleted_at (a link such as Pagila's film_actor) whose rows are hidden
-- whenever one of its enabled parents is; DELETE through its view removes the row.
CREATE FUNCTION softview.enable_dependent(rel regclass) RETURNS regclass
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM softview_internal.check_enableable(rel);
    IF NOT EXISTS (SELECT 1 FROM softview_internal.parents(rel)) THEN
        RAISE EXCEPTION 'cannot enable % as a dependent: it has no foreign key to an enabled table', rel
            USING ERRCODE = 'invalid_table_definition',
                  HINT = 'enable its parents first, or add deleted_at and use softview.enable';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM softview_internal.tables WHERE relation = rel) THEN
        PERFORM softview_internal.register_table(rel);
    END IF;
    RETURN softview_internal.install_enabled(rel);
END
$$;

-- The enabled tables whose views filter on the view of `rel` directly.
CREATE FUNCTION softview_internal.followers(rel regclass) RETURNS SETOF regclass
LANGUAGE sql STABLE STRICT AS $$
    SELECT t.relation FROM softview_internal.tables t
    WHERE t.relation <> rel
      AND EXISTS (SELECT 1 FROM softview_internal.parents(t.relation) p WHERE p.parent = rel)
    ORDER BY t.position
$$;

-- `rel` and every enabled table whose view is built on its view, parents first.
CREATE FUNCTION softview_internal.with_dependents(rel regclass) RETURNS SETOF regclass
LANGUAGE sql STABLE STRICT AS $$
    WITH RECURSIVE family(relation) AS (
        SELECT rel
        UNION
        SELECT follower FROM family f CROSS JOIN LATERAL softview_internal.followers(f.relation) AS follower
    )
    SELECT f.relation FROM family f JOIN softview_internal.tables t USING (relation) ORDER BY t.position
$$;

-- Drops the view of `rel` and the softview views built on it, keeping their grants for the
-- next refresh. Refuses, naming them, when views not made by softview depend on them.
CREATE FUNCTION softview.drop_views(rel regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    family regclass[];
    views oid[];
    foreign_dependents text;
    member regclass;
    trigger_function regprocedure;
BEGIN
    PERFORM softview_internal.require_enabled(rel);
    family := array(SELECT softview_internal.with_dependents(rel));
    views := array(SELECT softview_internal.view_of(f)::oid FROM unnest(family) AS f
                   WHERE softview_internal.view_of(f) IS NOT NULL);
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
        IF softview_internal.view_of(member) IS NOT NULL THEN
            PERFORM softview_internal.save_view_grants(member);
            trigger_function := softview_internal.current_trigger_function(
                softview_internal.view_of(member));
            EXECUTE format('DROP VIEW %s', softview_internal.view_name(member));
            IF trigger_function IS NOT NULL THEN
                PERFORM softview_internal.drop_write_function(trigger_function);
            END IF;
        END IF;
    END LOOP;
END
$$;

-- Re-creates the view of `rel` and the views built on it after the table changed. Columns
-- added to the table are appended in place (grants, triggers and other dependents stay);
-- when the column list changed otherwise, the views are dropped and re-created.
CREATE FUNCTION softview.refresh(rel regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    member regclass;
BEGIN
    PERFORM softview_internal.require_enabled(rel);
    IF (SELECT soft_deletable FROM softview_internal.tables WHERE relation = rel) THEN
        PERFORM softview_internal.require_soft_deletable(rel);
    END IF;
    PERFORM softview_internal.install_archive(rel);
    BEGIN
        FOR member IN SELECT softview_internal.with_dependents(rel) LOOP
            PERFORM softview_internal.install_view(member);
        END LOOP;
    EXCEPTION WHEN invalid_table_definition THEN
        -- CREATE OR REPLACE VIEW cannot drop, rename or retype columns.
        PERFORM softview.drop_views(rel);
        FOR member IN SELECT softview_internal.with_dependents(rel) LOOP
            PERFORM softview_internal.install_view(member);
        END LOOP;
    END;
END
$$;

-- Forgets dropped tables, sorts the catalog again and re-creates every view, parents first:
-- the repair for views made in another order (by revision 1, which kept enable order). A table
-- that cannot be refreshed (its deleted_at dropped, say) is skipped with a WARNING naming it
-- and the error, so that it does not keep the others from their refresh.
CREATE FUNCTION softview.refresh_all() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    member regclass;
BEGIN
    PERFORM softview_internal.sort_tables();
    FOR member IN SELECT relation FROM softview_internal.tables ORDER BY position LOOP
        BEGIN
            PERFORM softview.refresh(member);
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'softview could not refresh %: %', softview_internal.qualified_name(member), SQLERRM
                USING HINT = 'fix the table and call softview.refresh on it, or softview.disable it';
        END;
    END LOOP;
END
$$;

-- Drops the view of `rel` (refusing while other enabled tables build on it) and forgets it.
CREATE FUNCTION softview.disable(rel regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    dependents text;
    created regclass;
    member regclass;
    referencing record;
    probed_parents regclass[];
BEGIN
    PERFORM softview.forget_dropped_tables();
    PERFORM softview_internal.require_enabled(rel);
    PERFORM softview_internal.require_owner(rel, 'disable it');
    probed_parents := array(SELECT p.parent FROM softview_internal.parents(rel) AS p);
    SELECT string_agg(d::text, ', ') INTO dependents
    FROM softview_internal.with_dependents(rel) AS d WHERE d <> rel;
    IF dependents IS NOT NULL THEN
        RAISE EXCEPTION 'cannot disable %: the views of % are built on it', rel, dependents
            USING ERRCODE = 'dependent_objects_still_exist', HINT = 'disable those tables first';
    END IF;
    PERFORM softview.drop_views(rel);
    FOR member IN SELECT rel UNION SELECT relid FROM pg_partition_tree(rel) LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS softview_archive ON %s', softview_internal.qualified_name(member));
        EXECUTE format('DROP TRIGGER IF EXISTS softview_truncate ON %s', softview_internal.qualified_name(member));
        EXECUTE format('DROP TRIGGER IF EXISTS softview_announce_summary ON %s', softview_internal.qualified_name(member));
    END LOOP;
    EXECUTE format('DROP TRIGGER IF EXISTS softview_announce ON %s', softview_internal.qualified_name(rel));
    FOR referencing IN SELECT c.conrelid::regclass AS relation, c.conname FROM pg_constraint c
                       WHERE c.contype = 'f' AND c.confrelid = rel AND c.confdeltype IN ('n', 'd') LOOP
        BEGIN
            EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', softview_internal.reference_trigger_name(referencing.conname),
                           softview_internal.qualified_name(referencing.relation));
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'the owner of % may drop trigger %', referencing.relation,
                         softview_internal.reference_trigger_name(referencing.conname);
        END;
    END LOOP;
    -- The indexes softview created on the table (see ensure_index).
    FOR created IN
        SELECT i.indexrelid::regclass FROM pg_index i
        WHERE i.indrelid = rel AND obj_description(i.indexrelid, 'pg_class') LIKE 'created by softview: %'
    LOOP
        EXECUTE format('DROP INDEX %s', created);
    END LOOP;
    PERFORM softview_internal.unregister_table(rel);
    -- And the live-key indexes softview created on its parents, unless another view still
    -- probes the same keys.
    FOR created IN
        SELECT i.indexrelid::regclass FROM pg_index i
        WHERE i.indrelid = ANY (probed_parents)
          AND obj_description(i.indexrelid, 'pg_class') LIKE 'created by softview: the views of the tables referencing it%'
          AND NOT EXISTS (
              SELECT 1 FROM softview_internal.tables t, softview_internal.parents(t.relation) AS p
              WHERE p.parent = i.indrelid
                AND i.indkey::text = (SELECT string_agg(a.attnum::text, ' ' ORDER BY u.n)
                                      FROM unnest(p.parent_columns) WITH ORDINALITY AS u(c, n)
                                      JOIN pg_attribute a ON a.attrelid = p.parent AND a.attname = u.c))
    LOOP
        BEGIN
            EXECUTE format('DROP INDEX %s', created);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'no view probes % any more; its owner may drop it', created;
        END;
    END LOOP;
END
$$;

-- Enabled tables as the generator and the command line see them.
CREATE VIEW softview.enabled_tables AS
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
