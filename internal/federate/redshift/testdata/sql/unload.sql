UNLOAD ('SELECT id, amount, created_at FROM sales.orders WHERE created_at >= ''2024-01-01''')
TO 's3://lake/federate/orders/v3/'
IAM_ROLE 'arn:aws:iam::123456789012:role/snaplake-redshift'
REGION 'eu-central-1'
KMS_KEY_ID 'arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab'
ENCRYPTED
FORMAT CSV
GZIP
NULL AS '\\N'
MANIFEST VERBOSE
PARALLEL ON
MAXFILESIZE 1 GB