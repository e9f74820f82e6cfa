SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale, is_nullable
FROM svv_columns
WHERE table_schema = 'sa"les\\' AND table_name = 'o''r"d\\"; DROP TABLE x; --'
ORDER BY ordinal_position