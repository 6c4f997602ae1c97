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
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM softview_internal.require_soft_deletable(rel);
    RETURN (SELECT coalesce(t.grace_period, s.default_grace_period)
            FROM softview_internal.tables t CROSS JOIN softview_internal.settings s
            WHERE t.relation = rel);
END
$$;

-- Sets how long deleted rows of `rel` wait before a purge; NULL returns it to the default.
CREATE FUNCTION softview.set_grace_period(rel regclass, grace interval) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM softview_internal.require_soft_deletable(rel);
    PERFORM softview_internal.require_owner(rel, 'change its settings');
    IF grace IS NOT NULL THEN
        PERFORM softview_internal.checked_age('grace period', grace);
    END IF;
    UPDATE softview_internal.tables SET grace_period = grace WHERE relation = rel;
END
$$;

-- Only the toolkit's owner may call it (EXECUTE is not granted): it is every table's setting.
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
    SELECT relation FROM softview_internal.tables
    WHERE soft_deletable AND softview_internal.table_exists(relation)
    ORDER BY position DESC
$$;

-- The rows of `rel` a purge would remove now: deleted longer ago than `older_than` (the
-- table's grace period when NULL), not still referenced through a RESTRICT or NO ACTION
-- foreign key (those wait until their children are gone), and not due to go with their parent
-- through an ON DELETE CASCADE key.
CREATE FUNCTION softview_internal.purge_candidates(rel regclass, older_than interval DEFAULT NULL,
                                          selected text DEFAULT '1') RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    age interval := softview_internal.checked_age('age to purge from',
                                                  coalesce(older_than, softview.grace_period(rel)));
    held text;
    grouped text;
BEGIN
    PERFORM softview_internal.require_soft_deletable(rel);
    -- A row whose parent through an ON DELETE CASCADE key is due too goes with that parent, in
    -- its batch's transaction, so that restoring that transaction brings both back.
    SELECT string_agg(format(' AND NOT EXISTS (SELECT 1 FROM %s g WHERE %s AND g.deleted_at < now() - %L::interval)',
                             softview_internal.qualified_name(c.confrelid),
                             softview_internal.match_columns(
                                 'g.', softview_internal.column_names(c.confrelid, c.confkey),
                                 'c', softview_internal.column_names(c.conrelid, c.conkey),
                                 softview_internal.foreign_key_operators(c.conrelid, c.conname)),
                             softview_internal.checked_age('age to purge from',
                                                           coalesce(older_than, softview.grace_period(c.confrelid)))), '')
    INTO grouped
    FROM pg_constraint c
    JOIN softview_internal.tables t ON t.relation = c.confrelid AND t.soft_deletable
    WHERE c.contype = 'f' AND c.conrelid = rel AND c.confdeltype = 'c'
      AND softview_internal.table_exists(c.confrelid);
    SELECT string_agg(format(' AND NOT EXISTS (SELECT 1 FROM %s x WHERE %s)',
                             softview_internal.qualified_name(c.conrelid),
                             softview_internal.match_columns(
                                 'c.', softview_internal.column_names(c.confrelid, c.confkey),
                                 'x', softview_internal.column_names(c.conrelid, c.conkey),
                                 softview_internal.foreign_key_operators(c.conrelid, c.conname))), '')
    INTO held
    FROM pg_constraint c
    WHERE c.contype = 'f' AND c.confrelid = rel AND c.confdeltype IN ('a', 'r');
    RETURN format('SELECT %s FROM %s c WHERE c.deleted_at < now() - %L::interval%s%s',
        selected, softview_internal.qualified_name(rel), age, coalesce(held, ''), coalesce(grouped, ''));
END
$$;

-- Hard-deletes (and so archives) up to `batch_size` purgeable rows of `rel`, oldest first,
-- skipping rows another transaction holds (a restore, another purge). Returns how many.
-- Run each batch in a transaction of its own. The purge's actor and reason label only its own
-- deletes: the caller's settings are back when it returns. It deletes with the caller's
-- rights; softview.purge_age tells the archive trigger which deleted rows count as purged, and
-- the trigger counts what it archives per table in softview.purge_archived, which starts empty
-- at each call (a caller's transaction may hold several batches).
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
    PERFORM set_config('softview.purge_age', coalesce(older_than, softview.grace_period(rel))::text, true);
    PERFORM set_config('softview.purge_archived', '', true);
    -- The rows are locked by the subquery, so their ctids stay theirs until the DELETE.
    EXECUTE format('DELETE FROM %s WHERE ctid = ANY (ARRAY(%s ORDER BY c.deleted_at LIMIT %s FOR UPDATE SKIP LOCKED))',
        softview_internal.qualified_name(rel), softview_internal.purge_candidates(rel, older_than, 'c.ctid'), batch_size);
    GET DIAGNOSTICS purged = ROW_COUNT;
    PERFORM set_config('softview.actor', coalesce(previous_actor, ''), true);
    PERFORM set_config('softview.reason', coalesce(previous_reason, ''), true);
    PERFORM set_config('softview.purge_age', '', true);
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

-- How many rows ON DELETE CASCADE foreign keys delete with the rows the query `doomed` selects
-- from `parent`, per table, following the cascades down (at most 64 levels). A row reached along
-- two paths is counted on each.
CREATE FUNCTION softview_internal.cascade_counts(parent regclass, doomed text, depth integer DEFAULT 1)
RETURNS TABLE (relation regclass, rows bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    fk record;
    reached text;
    key name[] := softview_internal.primary_key(parent);
    n bigint;
BEGIN
    IF depth > 64 THEN
        RETURN;
    END IF;
    FOR fk IN
        SELECT c.conrelid::regclass AS child, c.conname,
               softview_internal.column_names(c.conrelid, c.conkey) AS child_columns,
               softview_internal.column_names(c.confrelid, c.confkey) AS parent_columns
        FROM pg_constraint c
        WHERE c.contype = 'f' AND c.confrelid = parent AND c.confdeltype = 'c' AND c.conparentid = 0
        ORDER BY c.conname
    LOOP
        reached := format('SELECT x.* FROM %s x WHERE EXISTS (SELECT 1 FROM (%s) p WHERE %s)',
            softview_internal.qualified_name(fk.child), doomed,
            softview_internal.match_columns('p.', fk.parent_columns, 'x', fk.child_columns,
                                            softview_internal.foreign_key_operators(fk.child, fk.conname)));
        IF fk.child = parent AND cardinality(key) > 0 THEN
            -- A self-reference: rows the query already selects are not deleted twice.
            reached := reached || format(' AND NOT EXISTS (SELECT 1 FROM (%s) d WHERE %s)',
                doomed, softview_internal.match_columns('x.', key, 'd', key,
                                                        softview_internal.primary_key_operators(parent)));
        END IF;
        EXECUTE format('SELECT count(*) FROM (%s) AS r', reached) INTO n;
        IF n > 0 THEN
            relation := fk.child;
            rows := n;
            RETURN NEXT;
            RETURN QUERY SELECT * FROM softview_internal.cascade_counts(fk.child, reached, depth + 1);
        END IF;
    END LOOP;
END
$$;

-- The rows of other tables that ON DELETE CASCADE would delete with the rows a purge of `rel`
-- removes now, per table (for a dry run; the purge itself archives those of enabled tables).
CREATE FUNCTION softview.purgeable_cascades(rel regclass, older_than interval DEFAULT NULL)
RETURNS TABLE (table_name text, rows bigint)
LANGUAGE sql STABLE AS $$
    SELECT softview_internal.qualified_name(c.relation), sum(c.rows)::bigint
    FROM softview_internal.cascade_counts(rel, softview_internal.purge_candidates(rel, older_than, 'c.*')) AS c
    GROUP BY c.relation
    ORDER BY 1
$$;

-- Wakes a waiting `softview worker` before its interval is over.
CREATE FUNCTION softview.wake_worker() RETURNS void
LANGUAGE sql AS $$ SELECT pg_notify('softview_worker', '') $$;


-- One purge pass of every table, parents' children first, each batch committed on its own,
-- after adding the archive's coming partitions: what `softview worker` does once, as a
-- procedure a scheduler inside the database can CALL. It runs with the caller's rights. It has
-- no pinned search_path (a procedure with one cannot commit): it names every object with its
-- schema and calls only pinned functions.
CREATE PROCEDURE softview.purge_due(batch_size integer DEFAULT 1000)
LANGUAGE plpgsql AS $$
DECLARE
    rel regclass;
    purged bigint;
BEGIN
    PERFORM softview.add_archive_partitions();
    COMMIT;
    FOR rel IN SELECT * FROM softview_internal.purge_order() LOOP
        LOOP
            purged := softview.purge_batch(rel, batch_size);
            COMMIT;
            EXIT WHEN purged OPERATOR(pg_catalog.<) batch_size;
        END LOOP;
    END LOOP;
END
$$;

-- The name of this database's purge job in pg_cron.
CREATE FUNCTION softview_internal.purge_job_name() RETURNS text
LANGUAGE sql STABLE AS $$ SELECT format('softview purge %s', current_database()) $$;

-- Schedules `CALL softview.purge_due(batch_size)` with pg_cron (a cron schedule such as
-- '* * * * *'), as the calling role; again, it replaces the schedule. Returns the job's id.
-- Without pg_cron in this database it says where pg_cron runs its jobs from and what to run
-- there, and points to `softview worker`.
CREATE FUNCTION softview.schedule_purge(schedule text DEFAULT '* * * * *', batch_size integer DEFAULT 1000)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    command text;
    cron_database text := nullif(current_setting('cron.database_name', true), '');
    job bigint;
BEGIN
    IF batch_size IS NULL OR batch_size < 1 THEN
        RAISE EXCEPTION 'a purge batch must hold at least one row, got %', coalesce(batch_size::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    command := format('CALL softview.purge_due(%s)', batch_size);
    IF to_regprocedure('cron.schedule(text, text, text)') IS NULL THEN
        RAISE EXCEPTION 'pg_cron is not installed in this database'
            USING ERRCODE = 'undefined_object',
                  DETAIL = CASE WHEN cron_database IS NULL
                               THEN 'The server does not load pg_cron (shared_preload_libraries).'
                               ELSE format('pg_cron runs its jobs from database %s. There, run: SELECT cron.schedule_in_database(%L, %L, %L, %L)',
                                           cron_database, softview_internal.purge_job_name(), schedule, command, current_database())
                           END,
                  HINT = 'Or run `softview worker` beside the database: it purges on an interval.';
    END IF;
    EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO job USING softview_internal.purge_job_name(), schedule, command;
    RETURN job;
END
$$;

-- Removes the purge job schedule_purge made; false when there was none.
CREATE FUNCTION softview.unschedule_purge() RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    scheduled boolean;
BEGIN
    IF to_regprocedure('cron.unschedule(name)') IS NULL THEN
        RETURN false;
    END IF;
    -- Dynamic SQL: the schema cron exists only where pg_cron is installed.
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job WHERE jobname = $1)' INTO scheduled
        USING softview_internal.purge_job_name();
    IF NOT scheduled THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT cron.unschedule($1::name)' INTO scheduled USING softview_internal.purge_job_name();
    RETURN scheduled;
END
$$;
