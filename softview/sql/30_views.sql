-- Making, refreshing and dropping the active_* views, and enabling tables.

-- The view's query: the table's columns, rows that are not deleted, and whose parents (by
-- their own active views, so hiding cascades through any depth) are visible.
CREATE FUNCTION softview_internal.view_query(rel regclass) RETURNS text
LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE
    columns text;
    conditions text[] := '{}';
    p record;
    exists_parent text;
BEGIN
    SELECT string_agg(format('t.%I', c), ', ') INTO columns FROM softview_internal.columns(rel) AS c;
    IF (SELECT soft_deletable FROM softview_internal.tables WHERE relation = rel) THEN
        conditions := conditions || 't.deleted_at IS NULL'::text;
    END IF;
    FOR p IN SELECT * FROM softview_internal.parents(rel) LOOP
        exists_parent := format('EXISTS (SELECT 1 FROM %s p WHERE %s)',
            softview_internal.view_name(p.parent),
            softview_internal.match_columns('p.', p.parent_columns, 't', p.child_columns));
        IF p.nullable THEN
            exists_parent := format('(%s OR %s)',
                (SELECT string_agg(format('t.%I IS NULL', c), ' OR ') FROM unnest(p.child_columns) AS c),
                exists_parent);
        END IF;
        conditions := conditions || exists_parent;
    END LOOP;
    RETURN format('SELECT %s FROM %s t WHERE %s',
        columns, softview_internal.qualified_name(rel), array_to_string(conditions, ' AND '));
END
$$;

-- Creates or replaces the view of one enabled table with its defaults, triggers, comment and
-- any grants saved by drop_views.
CREATE FUNCTION softview_internal.install_view(rel regclass) RETURNS regclass
LANGUAGE plpgsql AS $$
DECLARE
    view_name text := softview_internal.view_name(rel);
    has_parents boolean := EXISTS (SELECT 1 FROM softview_internal.parents(rel));
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
    EXECUTE format('CREATE OR REPLACE TRIGGER softview_delete INSTEAD OF DELETE ON %s
                    FOR EACH ROW EXECUTE FUNCTION softview_internal.on_view_delete(%L)',
        view_name, softview_internal.qualified_name(rel));

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
                        FOR EACH ROW EXECUTE FUNCTION softview_internal.on_view_insert(%L)',
            view_name, softview_internal.qualified_name(rel));
        EXECUTE format('CREATE OR REPLACE TRIGGER softview_update INSTEAD OF UPDATE ON %s
                        FOR EACH ROW EXECUTE FUNCTION softview_internal.on_view_update(%L)',
            view_name, softview_internal.qualified_name(rel));
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

-- Sets `position` so that every parent comes before the tables that reference it, whatever
-- order they were enabled in. Foreign-key cycles (store <-> staff in Pagila) are broken by
-- enable order: taking the tables in that order, a table's references to tables already taken
-- are kept, and so are their references to it unless that would close a cycle.
CREATE FUNCTION softview_internal.sort_tables() RETURNS void
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

CREATE FUNCTION softview_internal.check_enableable(rel regclass) RETURNS void
LANGUAGE plpgsql STABLE STRICT AS $$
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = rel) NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'cannot enable %: it is not a table', rel
            USING ERRCODE = 'wrong_object_type';
    END IF;
    IF cardinality(softview_internal.primary_key(rel)) = 0 THEN
        RAISE EXCEPTION 'cannot enable %: it has no primary key', rel
            USING ERRCODE = 'invalid_table_definition',
                  HINT = 'softview identifies rows by primary key in its triggers and archive';
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
CREATE FUNCTION softview.enable_dependent(rel regclass) RETURNS regclass
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
            EXECUTE format('DROP VIEW %s', softview_internal.view_name(member));
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
    IF NOT EXISTS (SELECT 1 FROM softview_internal.tables WHERE relation = rel) THEN
        RAISE EXCEPTION 'table is not enabled for softview: %', softview_internal.qualified_name(rel) USING ERRCODE = 'undefined_table';
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

-- Sorts the catalog again and re-creates every view, parents first: the repair for views made
-- in another order (by revision 1, which kept enable order).
CREATE FUNCTION softview.refresh_all() RETURNS void
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

-- Drops the view of `rel` (refusing while other enabled tables build on it) and forgets it.
CREATE FUNCTION softview.disable(rel regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    dependents text;
BEGIN
    SELECT string_agg(d::text, ', ') INTO dependents
    FROM softview_internal.with_dependents(rel) AS d WHERE d <> rel;
    IF dependents IS NOT NULL THEN
        RAISE EXCEPTION 'cannot disable %: the views of % are built on it', rel, dependents
            USING ERRCODE = 'dependent_objects_still_exist', HINT = 'disable those tables first';
    END IF;
    PERFORM softview.drop_views(rel);
    EXECUTE format('DROP TRIGGER softview_archive ON %s', softview_internal.qualified_name(rel));
    EXECUTE format('DROP TRIGGER IF EXISTS softview_announce ON %s', softview_internal.qualified_name(rel));
    DELETE FROM softview_internal.tables WHERE relation = rel;
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
