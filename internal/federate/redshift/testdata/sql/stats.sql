SELECT COUNT(*), MAX("created_at"), MAX("updated_at")
FROM "sales"."orders"