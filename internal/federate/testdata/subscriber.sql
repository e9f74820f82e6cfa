-- control table
CREATE SCHEMA IF NOT EXISTS "snaplake_federator";
CREATE TABLE IF NOT EXISTS "snaplake_federator"."loaded" (schema_name VARCHAR(128) NOT NULL, table_name VARCHAR(128) NOT NULL, version VARCHAR(256) NOT NULL, loaded_at TIMESTAMP NOT NULL);

-- loaded version
SELECT version FROM "snaplake_federator"."loaded" WHERE schema_name = 'sales' AND table_name = 'fact''s';

-- schema of a table the subscriber does not have
CREATE SCHEMA IF NOT EXISTS "sales";

-- staging of a table the subscriber does not have: the version's definition
DROP TABLE IF EXISTS "sales"."fact_orders__snaplake_staging";
CREATE TABLE "sales"."fact_orders__snaplake_staging" ("id" bigint NOT NULL, "we""ird" character varying(256), "amount" numeric(12,2));

-- swap in a full version that creates the table
SELECT 1 / (CASE WHEN COUNT(*) = 0 THEN 1 ELSE 0 END) FROM "snaplake_federator"."loaded" WHERE schema_name = 'sales' AND table_name = 'fact_orders';
SELECT 1 / (CASE WHEN COUNT(*) = 3 THEN 1 ELSE 0 END) FROM "sales"."fact_orders__snaplake_staging";
ALTER TABLE "sales"."fact_orders__snaplake_staging" RENAME TO "fact_orders";
DELETE FROM "snaplake_federator"."loaded" WHERE schema_name = 'sales' AND table_name = 'fact_orders';
INSERT INTO "snaplake_federator"."loaded" (schema_name, table_name, version, loaded_at) VALUES ('sales', 'fact_orders', '20261203T101700.000000Z_full_rows=3_ins=none_upd=none', TIMESTAMP '2026-12-03 10:20:00.000000');

-- staging
DROP TABLE IF EXISTS "sales"."fact_orders__snaplake_staging";
CREATE TABLE "sales"."fact_orders__snaplake_staging" (LIKE "sales"."fact_orders");

-- swap in a full version
SELECT 1 / (CASE WHEN COUNT(*) = 0 THEN 1 ELSE 0 END) FROM "snaplake_federator"."loaded" WHERE schema_name = 'sales' AND table_name = 'fact_orders';
SELECT 1 / (CASE WHEN COUNT(*) = 3 THEN 1 ELSE 0 END) FROM "sales"."fact_orders__snaplake_staging";
DELETE FROM "sales"."fact_orders";
INSERT INTO "sales"."fact_orders" SELECT * FROM "sales"."fact_orders__snaplake_staging";
SELECT 1 / (CASE WHEN COUNT(*) = 3 THEN 1 ELSE 0 END) FROM "sales"."fact_orders";
DROP TABLE "sales"."fact_orders__snaplake_staging";
DELETE FROM "snaplake_federator"."loaded" WHERE schema_name = 'sales' AND table_name = 'fact_orders';
INSERT INTO "snaplake_federator"."loaded" (schema_name, table_name, version, loaded_at) VALUES ('sales', 'fact_orders', '20261203T101700.000000Z_full_rows=3_ins=none_upd=none', TIMESTAMP '2026-12-03 10:20:00.000000');

-- swap in an append version
SELECT 1 / (CASE WHEN COUNT(*) = 1 AND MAX(version) = '20261203T101700.000000Z_full_rows=3_ins=none_upd=none' THEN 1 ELSE 0 END) FROM "snaplake_federator"."loaded" WHERE schema_name = 'sales' AND table_name = 'fact_orders';
SELECT 1 / (CASE WHEN COUNT(*) = 2 THEN 1 ELSE 0 END) FROM "sales"."fact_orders__snaplake_staging";
INSERT INTO "sales"."fact_orders" SELECT * FROM "sales"."fact_orders__snaplake_staging";
DROP TABLE "sales"."fact_orders__snaplake_staging";
DELETE FROM "snaplake_federator"."loaded" WHERE schema_name = 'sales' AND table_name = 'fact_orders';
INSERT INTO "snaplake_federator"."loaded" (schema_name, table_name, version, loaded_at) VALUES ('sales', 'fact_orders', '20261203T101800.000000Z_append_rows=5_ins=none_upd=none', TIMESTAMP '2026-12-03 10:20:00.000000');

-- staging of a changed definition
DROP TABLE IF EXISTS "sales"."fact_orders__snaplake_staging";
CREATE TABLE "sales"."fact_orders__snaplake_staging" ("id" bigint NOT NULL, "we""ird" character varying(512), "amount" numeric(12,2), "note" character varying(100));

-- widen a VARCHAR, alone, before the swap
ALTER TABLE "sales"."fact_orders" ALTER COLUMN "we""ird" TYPE character varying(512);

-- swap in a full version that adds a column
SELECT 1 / (CASE WHEN COUNT(*) = 1 AND MAX(version) = '20261203T101800.000000Z_append_rows=5_ins=none_upd=none' THEN 1 ELSE 0 END) FROM "snaplake_federator"."loaded" WHERE schema_name = 'sales' AND table_name = 'fact_orders';
SELECT 1 / (CASE WHEN COUNT(*) = 3 THEN 1 ELSE 0 END) FROM "sales"."fact_orders__snaplake_staging";
ALTER TABLE "sales"."fact_orders" ADD COLUMN "note" character varying(100);
DELETE FROM "sales"."fact_orders";
INSERT INTO "sales"."fact_orders" SELECT * FROM "sales"."fact_orders__snaplake_staging";
SELECT 1 / (CASE WHEN COUNT(*) = 3 THEN 1 ELSE 0 END) FROM "sales"."fact_orders";
DROP TABLE "sales"."fact_orders__snaplake_staging";
DELETE FROM "snaplake_federator"."loaded" WHERE schema_name = 'sales' AND table_name = 'fact_orders';
INSERT INTO "snaplake_federator"."loaded" (schema_name, table_name, version, loaded_at) VALUES ('sales', 'fact_orders', '20261203T101900.000000Z_full_rows=3_ins=none_upd=none', TIMESTAMP '2026-12-03 10:20:00.000000');

-- swap in a full version that rebuilds the table
SELECT 1 / (CASE WHEN COUNT(*) = 1 AND MAX(version) = '20261203T101900.000000Z_full_rows=3_ins=none_upd=none' THEN 1 ELSE 0 END) FROM "snaplake_federator"."loaded" WHERE schema_name = 'sales' AND table_name = 'fact_orders';
SELECT 1 / (CASE WHEN COUNT(*) = 3 THEN 1 ELSE 0 END) FROM "sales"."fact_orders__snaplake_staging";
DROP TABLE "sales"."fact_orders";
ALTER TABLE "sales"."fact_orders__snaplake_staging" RENAME TO "fact_orders";
SELECT 1 / (CASE WHEN COUNT(*) = 3 THEN 1 ELSE 0 END) FROM "sales"."fact_orders";
DELETE FROM "snaplake_federator"."loaded" WHERE schema_name = 'sales' AND table_name = 'fact_orders';
INSERT INTO "snaplake_federator"."loaded" (schema_name, table_name, version, loaded_at) VALUES ('sales', 'fact_orders', '20261203T102000.000000Z_full_rows=3_ins=none_upd=none', TIMESTAMP '2026-12-03 10:20:00.000000');

