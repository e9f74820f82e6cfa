COPY "sales"."orders"
FROM 's3://lake/federate/orders/v3/copy-manifest-sales.orders-495f4909a32c179c.json'
IAM_ROLE 'arn:aws:iam::123456789012:role/snaplake-redshift'
REGION 'eu-central-1'
MANIFEST
FORMAT CSV
GZIP
NULL AS '\\N'
TIMEFORMAT 'auto'