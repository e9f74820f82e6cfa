SELECT COUNT(*), MAX("updated_at")
FROM "sales"."orders"