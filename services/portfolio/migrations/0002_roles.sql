-- Roles: the services act as tradebus_app (fills may only be inserted and read; nothing is
-- ever deleted), dashboards as tradebus_readonly. Both NOLOGIN: a login user is made a member
-- (GRANT tradebus_app TO <user>) and the pool sets the role. Roles are cluster-wide, so their
-- creation tolerates another database (or process) having made them first.
DO $$
BEGIN
    CREATE ROLE tradebus_app NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

DO $$
BEGIN
    CREATE ROLE tradebus_readonly NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

GRANT USAGE ON SCHEMA public TO tradebus_app, tradebus_readonly;

-- Append-only for the app: insert and read.
GRANT SELECT, INSERT ON fills, internal_crosses, equity_snapshots, parameter_changes,
    risk_events, audit_log TO tradebus_app;
-- Latest-state tables: the app updates rows in place (never deletes).
GRANT SELECT, INSERT, UPDATE ON orders, positions, strategy_runs TO tradebus_app;
GRANT SELECT ON schema_migrations TO tradebus_app;

GRANT SELECT ON ALL TABLES IN SCHEMA public TO tradebus_readonly;
-- Tables that later migrations create are readable by dashboards too.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO tradebus_readonly;
