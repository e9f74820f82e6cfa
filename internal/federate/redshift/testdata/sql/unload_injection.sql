UNLOAD ('SELECT id, ''it''''s'' AS a, ''\\'' AS b, ''\\'''' AS c, E''x'' AS d
FROM "we""ird" -- line; comment
WHERE note LIKE ''%;DROP TABLE t;--%'' /* '' */
')
TO 's3://bucket/fed/v1/it''s\\/'
IAM_ROLE 'arn:aws:iam::1:role/x''; DELETE FROM t; --'
REGION 'eu-central-1'
KMS_KEY_ID 'key\\'' ENCRYPTED; DROP TABLE t; --'
ENCRYPTED
FORMAT CSV
GZIP
NULL AS '\\N'
MANIFEST VERBOSE
PARALLEL ON
MAXFILESIZE 1 GB