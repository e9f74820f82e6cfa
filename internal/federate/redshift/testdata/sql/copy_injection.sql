COPY "sa""les\"."o'r""d\""; DROP TABLE x; --"
FROM 's3://lake/x''y\\z.json'
IAM_ROLE 'arn:aws:iam::1:role/x''; DELETE FROM t; --'
REGION 'eu-central-1'
MANIFEST
FORMAT CSV
GZIP
NULL AS '\\N'
TIMEFORMAT 'auto'