-- The softview toolkit, from revision 2 to revision 3. Enabled tables, their settings and the
-- archive stay; the views and their trigger functions are re-created.
--
-- Revision 3 writes a row through a view with one statement when its parents are live, and
-- gives each soft-deletable link a `<table>_trash_links` index, so that an idempotent link
-- insert asks the trash alone whether there is a deleted link to revive.

DO $$
BEGIN
    IF to_regprocedure('softview.version()') IS NULL THEN
        RAISE EXCEPTION 'the softview toolkit is not installed; install it instead of upgrading'
            USING ERRCODE = 'undefined_object';
    END IF;
    IF softview.version() <> 2 THEN
        RAISE EXCEPTION 'this step upgrades the softview toolkit from revision 2, but revision % is installed', softview.version()
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION softview.version() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT 3 $$;

-- `base || suffix` when that fits PostgreSQL's 63-byte names; otherwise `base` cut short,
-- then a hash of the whole of it, then `suffix`, so that two long names sharing a prefix never
-- get the same name (PostgreSQL would cut both to one, with only a NOTICE).
CREATE OR REPLACE FUNCTION softview_internal.fitted_name(base name, suffix text) RETURNS name
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


-- Whether `view_rel` is the view softview made for `rel`: a view on `rel` whose DELETE trigger
-- calls a generated function. A view of the same name made by someone else is not replaced.
CREATE OR REPLACE FUNCTION softview_internal.is_view_of(view_rel regclass, rel regclass) RETURNS boolean
LANGUAGE sql STABLE STRICT AS $$
    SELECT (SELECT relkind FROM pg_class WHERE oid = view_rel) = 'v'
       AND softview_internal.current_trigger_function(view_rel) IS NOT NULL
       AND EXISTS (SELECT 1 FROM pg_rewrite r JOIN pg_depend d
                       ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                   WHERE r.ev_class = view_rel AND d.refclassid = 'pg_class'::regclass
                     AND d.refobjid = rel)
$$;


-- Creates a partial index softview needs on `rel`, unless one with these columns and this
-- predicate is there already, whoever made it. It is named after the table with `suffix`
-- (see fitted_name); a name another relation holds is refused, not skipped. The comment says
-- why it is there, and marks it for softview.disable to drop.
CREATE OR REPLACE FUNCTION softview_internal.ensure_index(rel regclass, key_columns name[], predicate text,
                                               suffix text, purpose text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    index_name name := softview_internal.fitted_name((SELECT relname FROM pg_class WHERE oid = rel), suffix);
    schema_name name := (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                         WHERE c.oid = rel);
    column_list text := (SELECT string_agg(quote_ident(c), ', ') FROM unnest(key_columns) AS c);
    holder regclass;
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_index i
        WHERE i.indrelid = rel AND NOT i.indisunique AND i.indexprs IS NULL
          AND i.indkey::text = (SELECT string_agg(a.attnum::text, ' ' ORDER BY u.n)
                                FROM unnest(key_columns) WITH ORDINALITY AS u(c, n)
                                JOIN pg_attribute a ON a.attrelid = rel AND a.attname = u.c)
          AND pg_get_expr(i.indpred, i.indrelid) = format('(%s)', predicate))
    THEN
        RETURN;
    END IF;
    SELECT c.oid INTO holder FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relname = index_name AND n.nspname = schema_name;
    IF holder IS NOT NULL THEN
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


CREATE OR REPLACE FUNCTION softview_internal.check_enableable(rel regclass) RETURNS void
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
    IF octet_length('active_' || (SELECT relname FROM pg_class WHERE oid = rel)) > 63 THEN
        RAISE EXCEPTION 'cannot enable %: its view would be named active_%, longer than PostgreSQL''s 63 bytes', rel,
                        (SELECT relname FROM pg_class WHERE oid = rel)
            USING ERRCODE = 'name_too_long',
                  HINT = 'rename the table to at most 56 bytes';
    END IF;
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
    PERFORM softview_internal.ensure_index(rel, '{deleted_at}', 'deleted_at IS NOT NULL', '_trash',
        'the trash, newest first, and the purge, oldest first, read deleted rows by deleted_at');
    RETURN softview_internal.install_enabled(rel);
END
$$;


-- Drops the view of `rel` (refusing while other enabled tables build on it) and forgets it.
CREATE OR REPLACE FUNCTION softview.disable(rel regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    dependents text;
    created regclass;
    member regclass;
BEGIN
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
    END LOOP;
    EXECUTE format('DROP TRIGGER IF EXISTS softview_announce ON %s', softview_internal.qualified_name(rel));
    -- The indexes softview created on the table (see ensure_index); those on its parents stay
    -- while the parents are enabled.
    FOR created IN
        SELECT i.indexrelid::regclass FROM pg_index i
        WHERE i.indrelid = rel AND obj_description(i.indexrelid, 'pg_class') LIKE 'created by softview: %'
    LOOP
        EXECUTE format('DROP INDEX %s', created);
    END LOOP;
    DELETE FROM softview_internal.tables WHERE relation = rel;
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
    IF to_regclass(view_name) IS NOT NULL AND NOT softview_internal.is_view_of(to_regclass(view_name), rel) THEN
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
        PERFORM softview_internal.ensure_index(col.parent, col.parent_columns, 'deleted_at IS NULL',
            '_live_keys', 'the views of the tables referencing it look up live keys');
    END LOOP;

    -- An insert through a link's view first asks whether a deleted link with the same parents
    -- exists; a partial index on the trash answers that without reading live links.
    IF (SELECT soft_deletable FROM softview_internal.tables WHERE relation = rel)
       AND (SELECT count(*) FROM softview_internal.parents(rel)) >= 2 THEN
        PERFORM softview_internal.ensure_index(rel,
            array(SELECT c FROM softview_internal.parents(rel) AS p, unnest(p.child_columns) AS c),
            'deleted_at IS NOT NULL', '_trash_links',
            'an insert through its view looks for a deleted link to revive');
    END IF;

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


-- The source of the trigger function behind the view of `rel`: DELETE soft-deletes (or, for a
-- dependent without deleted_at, removes), and for a table with enabled parents INSERT and UPDATE
-- check the parents and write the table. It is generated per table with every name written in,
-- so each write runs static SQL with a cached plan and no catalog lookups; install_view creates
-- it again whenever the view changes.
--
-- An insert is one statement when it can be: the row is written only if its parents are live
-- (and, for a link, no link with the same parents exists, deleted or live). Anything else takes
-- the slow path: check_parents raises the error that names the parent, and a link insert is
-- idempotent, returning a live link or reviving a soft-deleted one. Another transaction may
-- delete, revive or insert the link between those steps (a revive that meets a link inserted
-- meanwhile gives way to it), so they are tried again; when no attempt settles it, a plain
-- INSERT raises PostgreSQL's own unique violation, which names the constraint.
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
    insert_into text;
    new_values text;
    parents_live text[] := '{}';
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
        THEN format('UPDATE %s SET deleted_at = now() WHERE %s AND deleted_at IS NULL;',
                    table_name, softview_internal.match_columns('', key, 'OLD', key))
        ELSE format('DELETE FROM %s WHERE %s;', table_name, softview_internal.match_columns('', key, 'OLD', key))
    END;
    FOR fk IN SELECT * FROM softview_internal.parents(rel) LOOP
        parents_live := parents_live || format('(%s OR EXISTS (SELECT 1 FROM %s p WHERE %s))',
            (SELECT string_agg(format('NEW.%I IS NULL', c), ' OR ') FROM unnest(fk.child_columns) AS c),
            softview_internal.view_name(fk.parent),
            softview_internal.match_columns('p.', fk.parent_columns, 'NEW', fk.child_columns));
        parent_checks := parent_checks || format($check$
        IF NOT %s THEN
            PERFORM softview_internal.check_parents(%L::regclass, NEW);
        END IF;$check$,
            parents_live[cardinality(parents_live)], table_name);
        lock_from := lock_from || format('%s p%s', softview_internal.qualified_name(fk.parent),
                                         cardinality(parents_live));
        lock_match := lock_match || softview_internal.match_columns(
            format('p%s.', cardinality(parents_live)), fk.parent_columns, 'NEW', fk.child_columns);
    END LOOP;
    insert_into := format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE', table_name,
        (SELECT string_agg(quote_ident(c), ', ') FROM unnest(insert_columns) AS c));
    new_values := (SELECT string_agg(format('NEW.%I', c), ', ') FROM unnest(insert_columns) AS c);
    IF cardinality(parents_live) >= 2 THEN
        link_columns := array(SELECT c FROM softview_internal.parents(rel) AS p, unnest(p.child_columns) AS c);
        link_match := softview_internal.match_columns('', link_columns, 'NEW', link_columns);
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
            insert_into, new_values, array_to_string(parents_live, ' AND '),
            CASE WHEN soft_deletable THEN format(' AND NOT EXISTS (SELECT 1 FROM %s WHERE %s AND deleted_at IS NOT NULL)',
                                                 table_name, link_match) ELSE '' END,
            view_columns, parent_checks,
            CASE WHEN soft_deletable THEN format($revive$
            revived := false;
            BEGIN
                UPDATE %s SET deleted_at = NULL WHERE (%s) IN
                    (SELECT %s FROM %s WHERE %s AND deleted_at IS NOT NULL
                     AND NOT EXISTS (SELECT 1 FROM %s WHERE %s AND deleted_at IS NULL)
                     ORDER BY deleted_at DESC LIMIT 1)
                RETURNING %s INTO written;
                revived := FOUND;
            EXCEPTION WHEN unique_violation THEN
                -- A live link committed while this one was revived: the steps below return it.
            END;
            IF revived THEN NEW := written; RETURN NEW; END IF;$revive$,
                table_name, key_list, key_list, table_name, link_match, table_name, link_match, view_columns)
            ELSE '' END,
            insert_into, new_values, view_columns,
            view_columns, table_name, link_match, CASE WHEN soft_deletable THEN ' AND deleted_at IS NULL' ELSE '' END,
            insert_into, new_values, view_columns);
    ELSIF cardinality(parents_live) = 1 THEN
        on_insert := format($child$%s
            SELECT %s WHERE %s
            RETURNING %s INTO written;
        IF NOT FOUND THEN%s
            %s VALUES (%s) RETURNING %s INTO written;
        END IF;$child$,
            insert_into, new_values, parents_live[1], view_columns, replace(parent_checks, E'\n', E'\n    '),
            insert_into, new_values, view_columns);
    ELSE
        on_insert := format('%s VALUES (%s) RETURNING %s INTO written;', insert_into, new_values, view_columns);
    END IF;
    on_update := format($update$%s
        UPDATE %s SET %s WHERE %s RETURNING %s INTO written;
        IF NOT FOUND THEN RETURN NULL; END IF;$update$,
        parent_checks, table_name,
        (SELECT string_agg(format('%I = NEW.%I', c, c), ', ') FROM unnest(update_columns) AS c),
        softview_internal.match_columns('', key, 'OLD', key), view_columns);
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


-- TRUNCATE removes rows without DELETE triggers, so it would skip the archive, the required
-- actor and the events: it is refused unless the session says, with softview.allow_truncate,
-- that skipping them is what it wants.
CREATE OR REPLACE FUNCTION softview_internal.refuse_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('softview.allow_truncate', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION 'cannot truncate %: softview archives every row removed from it', TG_ARGV[0]
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'DELETE archives the rows, softview.purge_batch removes deleted ones in batches; '
                         'SET softview.allow_truncate = on truncates without the archive';
    END IF;
    RETURN NULL;
END
$$;


-- The triggers on the base table: the archive of hard deletes, the refusal of TRUNCATE, and
-- the announcements. A DELETE or TRUNCATE that names a partition fires that partition's
-- statement triggers, not the partitioned table's, so every partition gets both as well,
-- archiving under the partitioned table's name; a partition attached later gets them at the
-- next softview.refresh. The announcement is a row trigger, which PostgreSQL copies to every
-- partition, present and future.
CREATE OR REPLACE FUNCTION softview_internal.install_archive(rel regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    target regclass;
BEGIN
    FOR target IN SELECT rel UNION SELECT relid FROM pg_partition_tree(rel) LOOP
        EXECUTE format('CREATE OR REPLACE TRIGGER softview_truncate BEFORE TRUNCATE ON %s
                        FOR EACH STATEMENT EXECUTE FUNCTION softview_internal.refuse_truncate(%L)',
            softview_internal.qualified_name(target), softview_internal.qualified_name(target));
        EXECUTE format('CREATE OR REPLACE TRIGGER softview_archive AFTER DELETE ON %s
                        REFERENCING OLD TABLE AS gone
                        FOR EACH STATEMENT EXECUTE FUNCTION softview_internal.archive_deleted(%L, %L, %L)',
            softview_internal.qualified_name(target), softview_internal.qualified_name(rel),
            softview_internal.primary_key(rel)::text,
            (SELECT require_actor FROM softview_internal.tables WHERE relation = rel));
    END LOOP;
    IF (SELECT soft_deletable FROM softview_internal.tables WHERE relation = rel) THEN
        EXECUTE format('CREATE OR REPLACE TRIGGER softview_announce AFTER UPDATE OF deleted_at ON %s
                        FOR EACH ROW
                        WHEN ((OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL))
                        EXECUTE FUNCTION softview_internal.announce_soft_change(%L, %L)',
            softview_internal.qualified_name(rel), softview_internal.qualified_name(rel), softview_internal.primary_key(rel)::text);
    END IF;
END
$$;


-- Checks an age given to the toolkit (a grace period, an age to purge or prune from) where it
-- is given, so that nothing fails later on it: not NULL; no negative part (PostgreSQL adds an
-- interval's months, days and time one by one, so '1 mon -30 days' goes back in time from some
-- dates); at most 1000 years (more puts `now() - age` out of timestamptz's range).
CREATE OR REPLACE FUNCTION softview_internal.checked_age(what text, age interval) RETURNS interval
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    months integer;
    days integer;
BEGIN
    IF age IS NULL THEN
        RAISE EXCEPTION 'invalid %: it must not be NULL', what
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    months := extract(year FROM age) * 12 + extract(month FROM age);
    days := extract(day FROM age);
    IF months < 0 OR days < 0 OR age - make_interval(months => months, days => days) < interval '0' THEN
        RAISE EXCEPTION 'invalid %: it must not be negative, in any part; got %', what, age
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = '''1 mon -30 days'' counts as negative: it goes back in time from some dates';
    END IF;
    IF age > interval '1000 years' THEN
        RAISE EXCEPTION 'invalid %: it must be at most 1000 years, got %', what, age
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN age;
END
$$;


-- Sets how long deleted rows of `rel` wait before a purge; NULL returns it to the default.
CREATE OR REPLACE FUNCTION softview.set_grace_period(rel regclass, grace interval) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM softview_internal.require_soft_deletable(rel);
    IF grace IS NOT NULL THEN
        PERFORM softview_internal.checked_age('grace period', grace);
    END IF;
    UPDATE softview_internal.tables SET grace_period = grace WHERE relation = rel;
END
$$;


CREATE OR REPLACE FUNCTION softview.set_default_grace_period(grace interval) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE softview_internal.settings
    SET default_grace_period = softview_internal.checked_age('default grace period', grace);
END
$$;


-- The rows of `rel` a purge would remove now: deleted longer ago than `older_than` (the
-- table's grace period when NULL), and not still referenced through a RESTRICT or NO ACTION
-- foreign key (those wait until their children are gone).
CREATE OR REPLACE FUNCTION softview_internal.purge_candidates(rel regclass, older_than interval DEFAULT NULL,
                                          selected text DEFAULT '1') RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    age interval := softview_internal.checked_age('age to purge from',
                                                  coalesce(older_than, softview.grace_period(rel)));
    held text;
BEGIN
    PERFORM softview_internal.require_soft_deletable(rel);
    SELECT string_agg(format(' AND NOT EXISTS (SELECT 1 FROM %s x WHERE %s)',
                             softview_internal.qualified_name(c.conrelid),
                             softview_internal.match_columns('x.', child.cols, 'c', parent.cols)), '')
    INTO held
    FROM pg_constraint c
    CROSS JOIN LATERAL (SELECT array_agg(a.attname ORDER BY k.n) AS cols
                        FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, n)
                        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) AS child
    CROSS JOIN LATERAL (SELECT array_agg(a.attname ORDER BY k.n) AS cols
                        FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, n)
                        JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum) AS parent
    WHERE c.contype = 'f' AND c.confrelid = rel AND c.confdeltype IN ('a', 'r');
    RETURN format('SELECT %s FROM %s c WHERE c.deleted_at < now() - %L::interval%s',
        selected, softview_internal.qualified_name(rel), age, coalesce(held, ''));
END
$$;


CREATE OR REPLACE FUNCTION softview.prune_archive(older_than interval) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    pruned bigint;
BEGIN
    DELETE FROM softview.deleted_records
    WHERE archived_at < now() - softview_internal.checked_age('age to prune from', older_than);
    GET DIAGNOSTICS pruned = ROW_COUNT;
    RETURN pruned;
END
$$;


CREATE OR REPLACE FUNCTION softview.require_actor(rel regclass, required boolean DEFAULT true) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF required IS NULL THEN
        RAISE EXCEPTION 'invalid setting: require_actor takes true or false, not NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    UPDATE softview_internal.tables SET require_actor = required WHERE relation = rel;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table is not enabled for softview: %', softview_internal.qualified_name(rel) USING ERRCODE = 'undefined_table';
    END IF;
    PERFORM softview_internal.install_archive(rel);
END
$$;


-- Restores every row one transaction deleted, parents before children; returns how many.
CREATE OR REPLACE FUNCTION softview.restore_transaction(deleting_transaction bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    archived record;
    restored bigint := 0;
BEGIN
    FOR archived IN
        SELECT d.id
        FROM softview.deleted_records d
        LEFT JOIN softview_internal.tables t ON t.relation = to_regclass(d.table_name)
        WHERE d.transaction_id = deleting_transaction
        ORDER BY t.position NULLS LAST, d.id
    LOOP
        PERFORM softview.restore_archived(archived.id);
        restored := restored + 1;
    END LOOP;
    IF restored = 0 THEN
        RAISE EXCEPTION 'nothing archived for transaction %', coalesce(deleting_transaction::text, 'NULL')
            USING ERRCODE = 'no_data_found',
                  HINT = 'softview.deleted_records.transaction_id names the transactions it holds';
    END IF;
    RETURN restored;
END
$$;


-- Why a stored row of `rel` is not in its view although it is not deleted itself: the first
-- parent row its view does not show, as `public.places (id)=(1)`. NULL when the row is in the
-- view, deleted, or missing. A restore of a child whose parent is deleted succeeds, and this
-- says why the child stays hidden.
CREATE OR REPLACE FUNCTION softview.hidden_by(rel regclass, key text[]) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    condition text := softview_internal.key_condition(rel, key);
    p record;
    parent_key text;
BEGIN
    FOR p IN SELECT * FROM softview_internal.parents(rel) LOOP
        EXECUTE format('SELECT format(%L, concat_ws(%L, %s)) FROM %s t
                        WHERE %s AND NOT (%s) AND NOT EXISTS (SELECT 1 FROM %s v WHERE %s)',
            format('(%s)=(%%s)', (SELECT string_agg(quote_ident(c), ', ') FROM unnest(p.parent_columns) AS c)),
            ', ',
            (SELECT string_agg(format('t.%I', c), ', ') FROM unnest(p.child_columns) AS c),
            softview_internal.qualified_name(rel),
            condition,
            (SELECT string_agg(format('t.%I IS NULL', c), ' OR ') FROM unnest(p.child_columns) AS c),
            softview_internal.view_name(p.parent),
            softview_internal.match_columns('v.', p.parent_columns, 't', p.child_columns))
        INTO parent_key;
        IF parent_key IS NOT NULL THEN
            RETURN format('%s %s', softview_internal.qualified_name(p.parent), parent_key);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;


-- Revision 2 made the same indexes without saying so; mark them for softview.disable.
DO $$
DECLARE
    made record;
BEGIN
    FOR made IN
        SELECT i.indexrelid::regclass AS index_name,
               CASE WHEN ic.relname = left(tc.relname, 50) || '_trash'
                    THEN 'the trash, newest first, and the purge, oldest first, read deleted rows by deleted_at'
                    ELSE 'the views of the tables referencing it look up live keys' END AS purpose
        FROM softview_internal.tables t
        JOIN pg_class tc ON tc.oid = t.relation
        JOIN pg_index i ON i.indrelid = t.relation
        JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE ic.relname IN (left(tc.relname, 50) || '_trash', left(tc.relname, 50) || '_live_keys')
          AND obj_description(i.indexrelid, 'pg_class') IS NULL
    LOOP
        EXECUTE format('COMMENT ON INDEX %s IS %L', made.index_name,
                       format('created by softview: %s; softview.disable drops it', made.purpose));
    END LOOP;
END
$$;

SELECT softview.refresh_all();
