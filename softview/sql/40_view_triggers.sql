-- The INSTEAD OF triggers of the views: DELETE soft-deletes, writes check their parents.

-- The check a write through the view of `rel` runs when a parent (through `constraint_name`)
-- was not live: unless it is live now, it raises the error that names the parent, deleted
-- (SV001) or missing (23503, PostgreSQL's own code). It is generated into the write function
-- with every name written in, so that a refused write runs static SQL with cached plans: a
-- catalog walk and a query planned per call cost 2.3 ms a refusal, and under load the parents'
-- key locks were held that long.
CREATE FUNCTION softview_internal.parent_check_source(rel regclass, constraint_name name, parent regclass,
                                                      child_columns name[], parent_columns name[],
                                                      live text) RETURNS text
LANGUAGE sql STABLE STRICT AS $$
    SELECT format($check$
        IF NOT %1$s THEN
            IF EXISTS (SELECT 1 FROM %2$s p WHERE %3$s) THEN
                RAISE EXCEPTION 'parent row is deleted: %%', %4$L USING ERRCODE = 'SV001',
                    DETAIL = pg_catalog.format(%5$L, %6$s),
                    HINT = %7$L, TABLE = %8$L, SCHEMA = %9$L, CONSTRAINT = %10$L;
            END IF;
            RAISE EXCEPTION 'parent row does not exist: %%', %4$L USING ERRCODE = 'foreign_key_violation',
                DETAIL = pg_catalog.format(%11$L, %6$s),
                HINT = %12$L, TABLE = %13$L, CONSTRAINT = %10$L;
        END IF;$check$,
        live,
        softview_internal.qualified_name(parent),
        softview_internal.match_columns('p.', parent_columns, 'NEW', child_columns,
                                        softview_internal.foreign_key_operators(rel, constraint_name)),
        softview_internal.qualified_name(parent),
        key_prefix || '%s).',
        format('pg_catalog.concat_ws(%L, %s)', ', ',
               (SELECT string_agg(format('NEW.%I', c), ', ') FROM unnest(child_columns) AS c)),
        format('%s refers to it through %s; restore the parent first',
               softview_internal.qualified_name(rel), constraint_name),
        (SELECT relname FROM pg_class WHERE oid = parent),
        (SELECT n.nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid WHERE c.oid = parent),
        constraint_name,
        key_prefix || '%s) is not present in table '
            || replace(softview_internal.qualified_name(parent), '%', '%%') || '.',
        format('%s refers to it through %s', softview_internal.qualified_name(rel), constraint_name),
        (SELECT relname FROM pg_class WHERE oid = rel))
    -- The start of both DETAILs, `Key (id)=(`, as a format() template.
    FROM (SELECT replace(format('Key (%s)=(', string_agg(quote_ident(c), ', ')), '%', '%%') AS key_prefix
          FROM unnest(parent_columns) AS c) AS k
$$;

-- Columns a trigger may write: the view's columns less generated ones.
CREATE FUNCTION softview_internal.writable_columns(view_rel regclass, rel regclass, for_update boolean)
RETURNS name[]
LANGUAGE sql STABLE STRICT AS $$
    SELECT array(
        SELECT v.attname
        FROM pg_attribute v
        JOIN pg_attribute t ON t.attrelid = rel AND t.attname = v.attname AND NOT t.attisdropped
        WHERE v.attrelid = view_rel AND v.attnum > 0 AND NOT v.attisdropped
          AND t.attgenerated = ''
          AND NOT (for_update AND t.attidentity = 'a')
        ORDER BY v.attnum)
$$;

-- The source of the trigger function behind the view of `rel`: DELETE soft-deletes (or, for a
-- dependent without deleted_at, removes), and for a table with enabled parents INSERT and UPDATE
-- check the parents and write the table. It is generated per table with every name written in,
-- so each write runs static SQL with a cached plan and no catalog lookups; install_view creates
-- it again whenever the view changes. Every name in it is schema-qualified, operators included,
-- so it needs no pinned search_path: the application's own triggers on the table then run with
-- the writer's search_path, as they do for a write to the table itself.
--
-- An insert is one statement when it can be: the row is written only if its parents are live
-- (and, for a link, no link with the same parents exists, deleted or live). Anything else takes
-- the slow path: the parent checks raise the error that names the parent, and a link insert is
-- idempotent, returning a live link or reviving a soft-deleted one. Another transaction may
-- delete, revive or insert the link between those steps (a revive that meets a link inserted
-- meanwhile gives way to it), so they are tried again; when no attempt settles it, a plain
-- INSERT raises PostgreSQL's own unique violation, which names the constraint.
CREATE FUNCTION softview_internal.view_trigger_source(rel regclass, view_rel regclass) RETURNS text
LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE
    table_name text := softview_internal.qualified_name(rel);
    soft_deletable boolean := (SELECT t.soft_deletable FROM softview_internal.tables t WHERE t.relation = rel);
    key name[] := softview_internal.primary_key(rel);
    key_operators text[] := softview_internal.primary_key_operators(rel);
    key_list text := (SELECT string_agg(quote_ident(c), ', ') FROM unnest(key) AS c);
    view_columns text := (SELECT string_agg(quote_ident(c), ', ') FROM softview_internal.columns(view_rel) AS c);
    insert_columns name[] := softview_internal.writable_columns(view_rel, rel, false);
    update_columns name[] := softview_internal.writable_columns(view_rel, rel, true);
    insert_into text;
    new_values text;
    parents_live text[] := '{}';
    self_live text[] := '{}';
    parent_checks text := '';
    lock_from text[] := '{}';
    lock_match text[] := '{}';
    link_columns name[];
    link_match text;
    fk record;
    on_delete text;
    on_insert text;
    on_update text;
BEGIN
    on_delete := CASE WHEN soft_deletable
        THEN format('UPDATE %s SET deleted_at = pg_catalog.now() WHERE %s AND deleted_at IS NULL;',
                    table_name, softview_internal.match_columns('', key, 'OLD', key, key_operators))
        ELSE format('DELETE FROM %s WHERE %s;', table_name,
                    softview_internal.match_columns('', key, 'OLD', key, key_operators))
    END;
    FOR fk IN SELECT * FROM softview_internal.parents(rel) LOOP
        parents_live := parents_live || format('(%s OR EXISTS (SELECT 1 FROM %s p WHERE %s))',
            (SELECT string_agg(format('NEW.%I IS NULL', c), ' OR ') FROM unnest(fk.child_columns) AS c),
            softview_internal.view_name(fk.parent),
            softview_internal.match_columns('p.', fk.parent_columns, 'NEW', fk.child_columns,
                                            softview_internal.foreign_key_operators(rel, fk.constraint_name)));
        parent_checks := parent_checks || softview_internal.parent_check_source(
            rel, fk.constraint_name, fk.parent, fk.child_columns, fk.parent_columns,
            parents_live[cardinality(parents_live)]);
        lock_from := lock_from || format('%s p%s', softview_internal.qualified_name(fk.parent),
                                         cardinality(parents_live));
        lock_match := lock_match || softview_internal.match_columns(
            format('p%s.', cardinality(parents_live)), fk.parent_columns, 'NEW', fk.child_columns,
            softview_internal.foreign_key_operators(rel, fk.constraint_name));
    END LOOP;
    -- A parent row of the table itself must be in its view: not deleted, nor under a deleted
    -- ancestor.
    FOR fk IN SELECT * FROM softview_internal.self_references(rel) LOOP
        self_live := self_live || format('(%s OR EXISTS (SELECT 1 FROM %s p WHERE %s))',
            (SELECT string_agg(format('NEW.%I IS NULL', c), ' OR ') FROM unnest(fk.child_columns) AS c),
            softview_internal.view_name(rel),
            softview_internal.match_columns('p.', fk.parent_columns, 'NEW', fk.child_columns,
                                            softview_internal.foreign_key_operators(rel, fk.constraint_name)));
        parent_checks := parent_checks || softview_internal.parent_check_source(
            rel, fk.constraint_name, fk.parent, fk.child_columns, fk.parent_columns,
            self_live[cardinality(self_live)]);
    END LOOP;
    insert_into := format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE', table_name,
        (SELECT string_agg(quote_ident(c), ', ') FROM unnest(insert_columns) AS c));
    new_values := (SELECT string_agg(format('NEW.%I', c), ', ') FROM unnest(insert_columns) AS c);
    IF cardinality(parents_live) >= 2 THEN
        link_columns := array(SELECT c FROM softview_internal.parents(rel) AS p, unnest(p.child_columns) AS c);
        link_match := softview_internal.match_columns('', link_columns, 'NEW', link_columns,
            array(SELECT o FROM softview_internal.parents(rel) AS p,
                                unnest(softview_internal.foreign_key_operators(rel, p.constraint_name, true)) AS o));
        on_insert := format($link$-- The parents' key locks (those the foreign keys take) before any link is written
        -- or waited for: a parent's delete locks the parent, then its links, and this waits
        -- for it rather than holding a link it needs.
        PERFORM FROM %s WHERE %s FOR KEY SHARE;
        %s
            SELECT %s WHERE %s%s
            ON CONFLICT DO NOTHING RETURNING %s INTO written;
        IF FOUND THEN NEW := written; RETURN NEW; END IF;%s
        FOR attempt IN 1..3 LOOP%s
            %s VALUES (%s) ON CONFLICT DO NOTHING RETURNING %s INTO written;
            IF FOUND THEN NEW := written; RETURN NEW; END IF;
            SELECT %s INTO written FROM %s WHERE %s%s FOR SHARE;
            IF FOUND THEN NEW := written; RETURN NEW; END IF;
        END LOOP;
        %s VALUES (%s) RETURNING %s INTO written;$link$,
            array_to_string(lock_from, ', '), array_to_string(lock_match, ' AND '),
            insert_into, new_values, array_to_string(parents_live || self_live, ' AND '),
            CASE WHEN soft_deletable THEN format(' AND NOT EXISTS (SELECT 1 FROM %s WHERE %s AND deleted_at IS NOT NULL)',
                                                 table_name, link_match) ELSE '' END,
            view_columns, parent_checks,
            CASE WHEN soft_deletable THEN format($revive$
            revived := false;
            BEGIN
                UPDATE %s AS t SET deleted_at = NULL
                FROM (SELECT %s FROM %s WHERE %s AND deleted_at IS NOT NULL
                      AND NOT EXISTS (SELECT 1 FROM %s WHERE %s AND deleted_at IS NULL)
                      ORDER BY deleted_at DESC LIMIT 1) AS r
                WHERE %s
                RETURNING %s INTO written;
                revived := FOUND;
            EXCEPTION WHEN unique_violation THEN
                -- A live link committed while this one was revived: the steps below return it.
            END;
            IF revived THEN NEW := written; RETURN NEW; END IF;$revive$,
                table_name, key_list, table_name, link_match, table_name, link_match,
                softview_internal.match_columns('t.', key, 'r', key, key_operators),
                (SELECT string_agg(format('t.%I', c), ', ') FROM softview_internal.columns(view_rel) AS c))
            ELSE '' END,
            insert_into, new_values, view_columns,
            view_columns, table_name, link_match, CASE WHEN soft_deletable THEN ' AND deleted_at IS NULL' ELSE '' END,
            insert_into, new_values, view_columns);
    ELSIF cardinality(parents_live) = 1 OR cardinality(self_live) > 0 THEN
        on_insert := format($child$%s
            SELECT %s WHERE %s
            RETURNING %s INTO written;
        IF NOT FOUND THEN%s
            %s VALUES (%s) RETURNING %s INTO written;
        END IF;$child$,
            insert_into, new_values, array_to_string(parents_live || self_live, ' AND '), view_columns,
            replace(parent_checks, E'\n', E'\n    '),
            insert_into, new_values, view_columns);
    ELSE
        on_insert := format('%s VALUES (%s) RETURNING %s INTO written;', insert_into, new_values, view_columns);
    END IF;
    on_update := format($update$%s
        UPDATE %s SET %s WHERE %s RETURNING %s INTO written;
        IF NOT FOUND THEN RETURN NULL; END IF;$update$,
        parent_checks, table_name,
        (SELECT string_agg(format('%I = NEW.%I', c, c), ', ') FROM unnest(update_columns) AS c),
        softview_internal.match_columns('', key, 'OLD', key, key_operators), view_columns);
    RETURN format($function$#variable_conflict use_column
DECLARE
    written record;
    revived boolean;
BEGIN
    IF TG_OP = 'DELETE' THEN
        %s
        RETURN OLD;
    END IF;
    IF TG_OP = 'INSERT' THEN
        %s
    ELSE%s
    END IF;
    NEW := written;
    RETURN NEW;
END$function$,
        on_delete, on_insert, on_update);
END
$$;
