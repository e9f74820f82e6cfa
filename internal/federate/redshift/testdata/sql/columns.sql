SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale, is_nullable
FROM svv_columns
WHERE table_schema = 'sales' AND table_name = 'orders'
ORDER BY ordinal_position