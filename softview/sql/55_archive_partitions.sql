-- The archive's partitions: one per span of archiving time (a UTC day, an ISO week or a month),
-- created ahead, so that forgetting old rows drops whole partitions. A partition is a plain
-- table in softview_internal that no role but the toolkit's owner may read: every reader goes
-- through softview.deleted_records and its row-level security.

-- The partitions of the archive with the span each takes rows for, read from the catalog (a
-- bound printed in UTC, parsed back in UTC). A bound of MINVALUE reads as NULL; the default
-- partition, for rows no other one takes, has neither bound.
CREATE FUNCTION softview_internal.archive_partition_bounds()
RETURNS TABLE (partition regclass, archived_from timestamptz, archived_until timestamptz, is_default boolean)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' AS $$
    SELECT c.oid::regclass, bound[1]::timestamptz, bound[2]::timestamptz, bound IS NULL
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    CROSS JOIN LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                    $re$FROM \((?:'([^']*)'|MINVALUE)\) TO \('([^']*)'\)$re$) AS bound
    WHERE i.inhparent = 'softview.deleted_records'::regclass
$$;

-- The archive's partitions, oldest first, the default one last.
CREATE VIEW softview.archive_partitions AS
SELECT partition, archived_from, archived_until
FROM softview_internal.archive_partition_bounds()
ORDER BY is_default, archived_until;

-- Creates the partitions that take the rows archived from the end of the newest one until a
-- week from now, each one span of softview_internal.settings.archive_partition_width; a gap
-- since the newest partition (no purge ran for a while) becomes one partition, not one per
-- span. Rows that went to the default partition meanwhile move into the new partition that
-- takes them. Each partition is created alone and attached, which takes no lock that archive
-- writers or readers wait for, except on the default partition; waiting for that longer than
-- lock_timeout (one second here) stops it with a NOTICE, keeping what it made: the next purge
-- pass tries again. While another transaction is adding partitions it adds none. Anyone may
-- call it. Returns how many partitions it created.
CREATE FUNCTION softview.add_archive_partitions() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC'
    SET lock_timeout = '1s' AS $$
DECLARE
    width text := (SELECT s.archive_partition_width FROM softview_internal.settings s);
    current_start timestamptz := date_trunc(width, now());
    horizon timestamptz := now() + interval '7 days';
    lower_bound timestamptz;
    upper_bound timestamptz;
    partition_name text;
    created integer := 0;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('softview.add_archive_partitions')) THEN
        RETURN 0;
    END IF;
    SELECT coalesce(max(b.archived_until), current_start) INTO lower_bound
    FROM softview_internal.archive_partition_bounds() b;
    WHILE lower_bound < horizon LOOP
        upper_bound := CASE WHEN lower_bound < current_start THEN current_start
                            ELSE date_trunc(width, lower_bound) + ('1 ' || width)::interval END;
        partition_name := 'deleted_records_' || to_char(lower_bound, 'YYYYMMDD');
        BEGIN
            EXECUTE format('CREATE TABLE softview_internal.%I (LIKE softview.deleted_records INCLUDING DEFAULTS)',
                           partition_name);
            EXECUTE format(
                'WITH moved AS (DELETE FROM softview_internal.deleted_records_default
                                WHERE archived_at >= $1 AND archived_at < $2 RETURNING *)
                 INSERT INTO softview_internal.%I SELECT * FROM moved', partition_name)
            USING lower_bound, upper_bound;
            EXECUTE format('ALTER TABLE softview.deleted_records ATTACH PARTITION softview_internal.%I FOR VALUES FROM (%L) TO (%L)',
                           partition_name, lower_bound, upper_bound);
        EXCEPTION WHEN lock_not_available THEN
            RAISE NOTICE 'archive partition % not created: the default partition stayed locked; the next purge pass tries again',
                         partition_name;
            RETURN created;
        END;
        created := created + 1;
        lower_bound := upper_bound;
    END LOOP;
    RETURN created;
END
$$;

-- Only the toolkit's owner may call it (EXECUTE is not granted). Partitions created from now on
-- take rows for one `width` ('day', 'week' or 'month') each; existing ones keep their span.
CREATE FUNCTION softview.set_archive_partition_width(width text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF width IS NULL OR width NOT IN ('day', 'week', 'month') THEN
        RAISE EXCEPTION 'invalid setting: an archive partition spans a day, a week or a month, not %',
                        coalesce(quote_literal(width), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE softview_internal.settings SET archive_partition_width = width;
END
$$;

-- Forgets archived rows older than `older_than`. Partitions holding only such rows are dropped
-- whole; the rest are deleted from the partition the cut falls in and from the default one.
-- The references their transactions changed go with them: a transaction's archived rows and
-- its changed references carry the time it began, so they are forgotten together.
-- Dropping takes an ACCESS EXCLUSIVE lock on the archive, which is why it comes last: the lock
-- lasts from there to the commit. Only the toolkit's owner may call it (EXECUTE is not
-- granted): it forgets rows of every table. Returns how many rows it forgot.
CREATE FUNCTION softview.prune_archive(older_than interval) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    cutoff timestamptz := now() - softview_internal.checked_age('age to prune from', older_than);
    whole regclass[];
    cut regclass;
    rows_in bigint;
    pruned bigint := 0;
BEGIN
    SELECT coalesce(array_agg(b.partition), '{}') INTO whole
    FROM softview_internal.archive_partition_bounds() b
    WHERE b.archived_until <= cutoff;
    FOREACH cut IN ARRAY whole LOOP
        EXECUTE format('SELECT count(*) FROM %s', cut) INTO rows_in;
        pruned := pruned + rows_in;
    END LOOP;
    FOR cut IN SELECT b.partition FROM softview_internal.archive_partition_bounds() b
               WHERE b.is_default OR (coalesce(b.archived_from < cutoff, true) AND b.archived_until > cutoff) LOOP
        EXECUTE format('DELETE FROM %s WHERE archived_at < $1', cut) USING cutoff;
        GET DIAGNOSTICS rows_in = ROW_COUNT;
        pruned := pruned + rows_in;
    END LOOP;
    DELETE FROM softview.changed_references c WHERE c.recorded_at < cutoff;
    FOREACH cut IN ARRAY whole LOOP
        EXECUTE format('DROP TABLE %s', cut);
    END LOOP;
    RETURN pruned;
END
$$;

SELECT softview.add_archive_partitions();
