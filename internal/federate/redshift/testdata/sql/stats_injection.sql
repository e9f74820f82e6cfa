SELECT COUNT(*), MAX("up\""dated'; --")
FROM "sa""les\"."o'r""d\""; DROP TABLE x; --"