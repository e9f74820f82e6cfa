UNLOAD ('SELECT id, amount, created_at FROM sales.orders WHERE created_at >= ''2024-01-01''')
TO 's3://lake/federate/orders/v3/'
IAM_ROLE 'arn:aws:iam::123456789012:role/snaplake-redshift'
FORMAT CSV
GZIP
NULL AS '\\N'
MANIFEST VERBOSE
PARALLEL ON
MAXFILESIZE 1 GB