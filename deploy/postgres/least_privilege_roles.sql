-- Least-privilege PostgreSQL roles for omnibase_infra (docs/security.md explains each grant).
--
-- Run once as a superuser (or as a role with CREATEROLE that owns the database), connected
-- to the service's database, e.g.  psql -v ON_ERROR_STOP=1 -d onex -f least_privilege_roles.sql
-- Then give both roles a password out of band (\password onex_app in psql), and configure:
--   onex-infra db migrate   POSTGRES_USER=onex_migrator  POSTGRES_SCHEMA=onex
--   onex-infra run          POSTGRES_USER=onex_app       POSTGRES_SCHEMA=onex
-- To use other names, replace onex_migrator, onex_app and the schema onex throughout.

-- The migrator owns the schema and the tables in it; the runtime role owns nothing.
-- Neither is a superuser or may create databases or roles; the runtime role inherits nothing.
CREATE ROLE onex_migrator LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
CREATE ROLE onex_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT;

-- Only the service roles may connect (PUBLIC may CONNECT and create TEMP tables by default).
-- onex_app keeps TEMPORARY: the event-store writer COPies each batch into a per-session
-- temporary staging table (invisible to other sessions, emptied at every commit).
DO $$
BEGIN
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO onex_migrator, onex_app', current_database());
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO onex_app', current_database());
END
$$;

-- `onex-infra db migrate` creates and alters the service tables in this schema (USAGE and
-- CREATE come with ownership). PUBLIC gets nothing on a new schema.
CREATE SCHEMA onex AUTHORIZATION onex_migrator;
GRANT USAGE ON SCHEMA onex TO onex_app;

-- `onex-infra run` reads and writes rows; it cannot create, alter, drop or truncate anything.
-- Tables and sequences the migrator creates later get the same grants automatically.
ALTER DEFAULT PRIVILEGES FOR ROLE onex_migrator IN SCHEMA onex
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO onex_app;
ALTER DEFAULT PRIVILEGES FOR ROLE onex_migrator IN SCHEMA onex
    GRANT USAGE ON SEQUENCES TO onex_app;
-- Tables that already exist (when the schema was migrated before these roles were set up):
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA onex TO onex_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA onex TO onex_app;
