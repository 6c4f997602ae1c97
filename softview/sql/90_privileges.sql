-- Who may call what, and the names every function resolves. The contract (README, "Roles and
-- grants"): a role with privileges on its own tables and views, plus USAGE on schema softview,
-- can do the whole lifecycle of those tables and nothing on others.

-- Everyone reads the catalog (which tables are enabled, their settings): the views, triggers and
-- functions of every role read it. Only the toolkit's functions write it, and SELECT lets a
-- role take no lock on it but ACCESS SHARE, which nothing but DDL waits for.
GRANT USAGE ON SCHEMA softview_internal TO PUBLIC;
GRANT SELECT ON softview_internal.tables, softview_internal.settings TO PUBLIC;
GRANT SELECT ON softview.enabled_tables TO PUBLIC;
-- The archive: each role reads the rows the policy `readable` shows it; only the archive
-- trigger writes it, as the toolkit's owner.
GRANT SELECT ON softview.deleted_records, softview.changed_references TO PUBLIC;
GRANT SELECT ON softview.archive_partitions TO PUBLIC;
-- Settings of every table at once, the span of the archive's partitions and forgetting archived
-- rows are for the toolkit's owner; anyone may see the partitions and add the coming ones.
REVOKE EXECUTE ON FUNCTION softview.set_default_grace_period(interval), softview.prune_archive(interval),
                           softview.set_archive_partition_width(text) FROM PUBLIC;

-- Every toolkit function resolves names in pg_catalog alone, whoever calls it (the procedure
-- purge_due, which commits, cannot have a SET clause and names everything instead): an object that a
-- role creates in a schema on the caller's search_path (a `quote_ident(name)` in `public`, say)
-- never runs in its place. Four one-expression SQL functions are left out so that PostgreSQL
-- inlines them into the triggers that call them on every statement or row (a function with
-- SET is never inlined, and each call would switch the setting twice): inlined, they are
-- parsed with their caller's pinned search_path; called on their own, they run as the caller
-- and return a value to it, nothing more. The trigger functions generated for the views
-- (`write_<oid>`) name everything with its schema instead, so that the application's triggers
-- on its tables keep the writer's search_path. Triggers of the application that fire from the
-- toolkit's own functions (soft_delete_row, purge_batch, restore_archived …) run with the
-- pinned one: they should name their schemas, as PostgreSQL advises for every trigger.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure FROM pg_proc p
        WHERE p.pronamespace IN ('softview'::regnamespace, 'softview_internal'::regnamespace)
          AND p.prokind = 'f' AND p.proconfig IS NULL AND p.proname NOT LIKE 'write\_%'
          AND p.oid <> ALL (ARRAY['softview_internal.event_payload(text, jsonb, text)',
                                  'softview_internal.current_actor()', 'softview_internal.current_reason()',
                                  'softview_internal.caller()']::regprocedure[])
    LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = pg_catalog, pg_temp', f);
    END LOOP;
END
$$;

-- Partitions created, attached or detached later follow their partitioned table's triggers at
-- once through an event trigger, which only a superuser may create; installed by anyone else,
-- softview.refresh of the partitioned table does it (see follow_partitions).
DO $$
BEGIN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        CREATE EVENT TRIGGER softview_follow_partitions ON ddl_command_end
            WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
            EXECUTE FUNCTION softview_internal.follow_partitions();
    ELSE
        RAISE NOTICE 'softview installed without its event trigger (it needs a superuser): a partition created or attached later is archived from the next softview.refresh of its table';
    END IF;
END
$$;
