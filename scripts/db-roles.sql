-- The three PostgreSQL roles of a NOFX region, and their grants. Idempotent: run it after creating the
-- database and again after every `migrate` (new tables get the default privileges below, but the audit
-- table's refusals are re-applied here). See docs/runbooks/database-roles.md.
--
--   psql -v ON_ERROR_STOP=1 -d nofx \
--        -v owner_role=nofx_owner -v owner_password=... \
--        -v app_role=nofx_app -v app_password=... \
--        -v reporting_role=nofx_reporting -v reporting_password=... \
--        -f scripts/db-roles.sql
--
-- Run it as a superuser (or the database's current owner with CREATEROLE).
--
--   owner     owns the schema and every table; runs migrations; never used by the running app.
--   app       what web, worker and beat connect as: read and write rows, nothing else. It may INSERT
--             audit events but never UPDATE, DELETE or TRUNCATE them.
--   reporting read-only, for BI and auditors; cannot read sessions or MFA secrets.

\set ON_ERROR_STOP on

-- -- Roles -----------------------------------------------------------------------------------------------
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION', r)
FROM unnest(ARRAY[:'owner_role', :'app_role', :'reporting_role']) AS r
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r)
\gexec

SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'owner_role', :'owner_password') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'app_role', :'app_password') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'reporting_role', :'reporting_password') \gexec
-- A session of the application never runs long statements; a stuck one should not hold locks for ever.
SELECT format('ALTER ROLE %I SET statement_timeout = %L', :'app_role', '60s') \gexec
SELECT format('ALTER ROLE %I SET default_transaction_read_only = on', :'reporting_role') \gexec

-- -- Database and schema --------------------------------------------------------------------------------
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database()) \gexec
SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I, %I, %I', current_database(),
              :'owner_role', :'app_role', :'reporting_role') \gexec
SELECT format('GRANT CREATE ON DATABASE %I TO %I', current_database(), :'owner_role') \gexec

SELECT format('ALTER SCHEMA public OWNER TO %I', :'owner_role') \gexec
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SELECT format('GRANT USAGE ON SCHEMA public TO %I, %I', :'app_role', :'reporting_role') \gexec

-- Everything already created (by an earlier owner, e.g. the bootstrap superuser) moves to the owner role.
SELECT format('ALTER TABLE public.%I OWNER TO %I', tablename, :'owner_role')
FROM pg_tables WHERE schemaname = 'public'
\gexec
SELECT format('ALTER SEQUENCE public.%I OWNER TO %I', sequencename, :'owner_role')
FROM pg_sequences WHERE schemaname = 'public'
  AND NOT EXISTS (  -- identity sequences follow their table
      SELECT 1 FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
      WHERE c.relname = sequencename AND d.deptype = 'i')
\gexec
SELECT format('ALTER FUNCTION public.%I() OWNER TO %I', p.proname, :'owner_role')
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public' AND p.proname = 'security_auditevent_refuse_change'
\gexec

-- -- The application ----------------------------------------------------------------------------------
SELECT format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I', :'app_role') \gexec
SELECT format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO %I', :'app_role') \gexec
-- The audit log is append-only for the application: the grant is missing, not only refused by the trigger.
SELECT format('REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON TABLE public.security_auditevent FROM %I',
              :'app_role')
WHERE to_regclass('public.security_auditevent') IS NOT NULL
\gexec
SELECT format('REVOKE UPDATE, DELETE, TRUNCATE ON TABLE public.security_auditverification FROM %I', :'app_role')
WHERE to_regclass('public.security_auditverification') IS NOT NULL
\gexec

-- -- Reporting ------------------------------------------------------------------------------------------
SELECT format('GRANT SELECT ON ALL TABLES IN SCHEMA public TO %I', :'reporting_role') \gexec
SELECT format('REVOKE ALL ON TABLE public.%I FROM %I', t, :'reporting_role')
FROM unnest(ARRAY['django_session', 'mfa_authenticator', 'account_emailconfirmation']) AS t
WHERE to_regclass('public.' || t) IS NOT NULL
\gexec

-- -- Tables the owner creates later (the next migrations) ----------------------------------------------
SELECT format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I',
              :'owner_role', :'app_role') \gexec
SELECT format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO %I',
              :'owner_role', :'app_role') \gexec
SELECT format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT SELECT ON TABLES TO %I',
              :'owner_role', :'reporting_role') \gexec
