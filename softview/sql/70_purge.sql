-- Grace periods and the purge of rows deleted longer ago than theirs.

-- Checks an age given to the toolkit (a grace period, an age to purge or prune from) where it
-- is given, so that nothing fails later on it: not NULL; no negative part (PostgreSQL adds an
-- interval's months, days and time one by one, so '1 mon -30 days' goes back in time from some
-- dates); at most 1000 years (more puts `now() - age` out of timestamptz's range).
CREATE FUNCTION softview_internal.checked_age(what text, age interval) RETURNS interval
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

-- How long deleted rows of `rel` wait before a purge: its own grace period or the default.
CREATE FUNCTION softview.grace_period(rel regclass) RETURNS interval
LANGUAGE plpgsql STABLE STRICT AS $$
BEGIN
    PERFORM softview_internal.require_soft_deletable(rel);
    RETURN (SELECT coalesce(t.grace_period, s.default_grace_period)
            FROM softview_internal.tables t CROSS JOIN softview_internal.settings s
            WHERE t.relation = rel);
END
$$;

-- Sets how long deleted rows of `rel` wait before a purge; NULL returns it to the default.
CREATE FUNCTION softview.set_grace_period(rel regclass, grace interval) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM softview_internal.require_soft_deletable(rel);
    IF grace IS NOT NULL THEN
        PERFORM softview_internal.checked_age('grace period', grace);
    END IF;
    UPDATE softview_internal.tables SET grace_period = grace WHERE relation = rel;
END
$$;

CREATE FUNCTION softview.set_default_grace_period(grace interval) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE softview_internal.settings
    SET default_grace_period = softview_internal.checked_age('default grace period', grace);
END
$$;


-- Soft-deletable tables in the order a purge takes them: children before parents.
CREATE FUNCTION softview_internal.purge_order() RETURNS SETOF regclass
LANGUAGE sql STABLE AS $$
    SELECT relation FROM softview_internal.tables WHERE soft_deletable ORDER BY position DESC
$$;

-- The rows of `rel` a purge would remove now: deleted longer ago than `older_than` (the
-- table's grace period when NULL), and not still referenced through a RESTRICT or NO ACTION
-- foreign key (those wait until their children are gone).
CREATE FUNCTION softview_internal.purge_candidates(rel regclass, older_than interval DEFAULT NULL,
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

-- Hard-deletes (and so archives) up to `batch_size` purgeable rows of `rel`, oldest first,
-- skipping rows another transaction holds (a restore, another purge). Returns how many.
-- Run each batch in a transaction of its own. The purge's actor and reason label only its own
-- deletes: the caller's settings are back when it returns.
CREATE FUNCTION softview.purge_batch(rel regclass, batch_size integer, older_than interval DEFAULT NULL)
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

-- How many rows of `rel` a purge would remove now (for a dry run).
CREATE FUNCTION softview.purgeable(rel regclass, older_than interval DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM (%s) AS candidates', softview_internal.purge_candidates(rel, older_than))
    INTO n;
    RETURN n;
END
$$;

-- Wakes a waiting `softview worker` before its interval is over.
CREATE FUNCTION softview.wake_worker() RETURNS void
LANGUAGE sql AS $$ SELECT pg_notify('softview_worker', '') $$;

