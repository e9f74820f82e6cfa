SELECT COUNT(*)
FROM "sales"."orders"