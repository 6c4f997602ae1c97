-- The INSTEAD OF triggers of the views: DELETE soft-deletes, writes check their parents.

-- Raises when a row written through a view refers to a parent that is missing or deleted.
CREATE FUNCTION softview_internal.check_parents(rel regclass, written anyelement) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    p record;
    state text;
    key_text text;
BEGIN
    FOR p IN SELECT * FROM softview_internal.parents(rel) LOOP
        EXECUTE format(
            'SELECT CASE WHEN %s THEN ''unset''
                         WHEN EXISTS (SELECT 1 FROM %s p WHERE %s) THEN ''live''
                         WHEN EXISTS (SELECT 1 FROM %s p WHERE %s) THEN ''deleted''
                         ELSE ''missing'' END,
                    format(''(%s)=(%%s)'', concat_ws('', '', %s))',
            (SELECT string_agg(format('($1).%I IS NULL', c), ' OR ') FROM unnest(p.child_columns) AS c),
            softview_internal.view_name(p.parent),
            softview_internal.match_columns('p.', p.parent_columns, '($1)', p.child_columns),
            softview_internal.qualified_name(p.parent),
            softview_internal.match_columns('p.', p.parent_columns, '($1)', p.child_columns),
            (SELECT string_agg(quote_ident(c), ', ') FROM unnest(p.parent_columns) AS c),
            (SELECT string_agg(format('($1).%I', c), ', ') FROM unnest(p.child_columns) AS c))
        INTO state, key_text
        USING written;
        IF state = 'deleted' THEN
            RAISE EXCEPTION 'parent row is deleted: %', softview_internal.qualified_name(p.parent)
                USING ERRCODE = 'SV001',
                      DETAIL = format('Key %s.', key_text),
                      HINT = format('%s refers to it through %s; restore the parent first',
                                    softview_internal.qualified_name(rel), p.constraint_name),
                      TABLE = (SELECT relname FROM pg_class WHERE oid = p.parent),
                      SCHEMA = (SELECT nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid
                                WHERE c.oid = p.parent),
                      CONSTRAINT = p.constraint_name;
        ELSIF state = 'missing' THEN
            RAISE EXCEPTION 'parent row does not exist: %', softview_internal.qualified_name(p.parent)
                USING ERRCODE = 'foreign_key_violation',
                      DETAIL = format('Key %s is not present in table %s.', key_text,
                                      softview_internal.qualified_name(p.parent)),
                      HINT = format('%s refers to it through %s', softview_internal.qualified_name(rel),
                                    p.constraint_name),
                      TABLE = (SELECT relname FROM pg_class WHERE oid = rel),
                      CONSTRAINT = p.constraint_name;
        END IF;
    END LOOP;
END
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

CREATE FUNCTION softview_internal.on_view_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    rel regclass := TG_ARGV[0]::regclass;
    key name[] := softview_internal.primary_key(rel);
BEGIN
    IF (SELECT soft_deletable FROM softview_internal.tables WHERE relation = rel) THEN
        EXECUTE format('UPDATE %s SET deleted_at = now() WHERE %s AND deleted_at IS NULL',
            softview_internal.qualified_name(rel), softview_internal.match_columns('', key, '($1)', key))
        USING OLD;
    ELSE
        EXECUTE format('DELETE FROM %s WHERE %s',
            softview_internal.qualified_name(rel), softview_internal.match_columns('', key, '($1)', key))
        USING OLD;
    END IF;
    RETURN OLD;
END
$$;

-- INSERT through the view of a table with enabled parents. For a link (two or more parents)
-- the insert is idempotent: an existing live link is returned, a soft-deleted one revived.
-- Another transaction may delete or revive the link between those steps, so they are tried
-- again; when no attempt settles it, a plain INSERT raises PostgreSQL's own unique violation,
-- which names the constraint.
CREATE FUNCTION softview_internal.on_view_insert() RETURNS trigger
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

CREATE FUNCTION softview_internal.on_view_update() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    rel regclass := TG_ARGV[0]::regclass;
    columns name[] := softview_internal.writable_columns(TG_RELID, rel, true);
    key name[] := softview_internal.primary_key(rel);
    written record;
BEGIN
    PERFORM softview_internal.check_parents(rel, NEW);
    EXECUTE format('UPDATE %s SET %s WHERE %s RETURNING %s',
        softview_internal.qualified_name(rel),
        (SELECT string_agg(format('%I = ($1).%I', c, c), ', ') FROM unnest(columns) AS c),
        softview_internal.match_columns('', key, '($2)', key),
        (SELECT string_agg(quote_ident(c), ', ') FROM softview_internal.columns(TG_RELID) AS c))
    INTO written USING NEW, OLD;
    NEW := written;
    RETURN NEW;
END
$$;
