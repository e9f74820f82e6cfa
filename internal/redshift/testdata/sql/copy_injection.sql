COPY "sa""les\"."o'r""d\""; DROP TABLE x; --"
FROM 's3://lake/x''y\\z.json'
IAM_ROLE 'arn:aws:iam::1:role/x''; DELETE FROM t; --'
MANIFEST
FORMAT CSV
GZIP
NULL AS '\\N'
TIMEFORMAT 'auto'