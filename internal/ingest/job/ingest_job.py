"""snaplake ingest job: load the tables of one run from MySQL/MariaDB into the lake.

The reconfigure Lambda starts this job with the arguments below; the job reads the
run's JobPlan (internal/ingest/job.go) and loads its tables one after the other:

  --run_id     the run's ID (20261203T174500Z-frequent)
  --plan       s3://<bucket>/state/ingest-runs/<run>/plan.json, the JobPlan as JSON
  --jdbc_url   jdbc:mysql://host:port/database
  --secret_id  the Secrets Manager secret holding "username" and "password"

A large table is read in the key ranges the plan gives it (rangeColumn, ranges),
one JDBC query per range, in parallel: each range is one Spark partition. Every
table's columns are selected under their lake names (the plan's columns), and no
Parquet file holds more than the plan's rowsPerFile rows.

Each table is written as Parquet below its folder in the plan's bucket:

  raw/<database>/<table>/load=<run>/  an incremental load: the rows whose column is
                                      above the watermark, a new partition
  raw/<database>/<table>/gen=<run>/   a full reload: a new generation of the table

An incremental load reads the column's maximum first and loads the rows up to it, so
rows inserted meanwhile wait for the next run. When a table's files are all written,
the job writes its TableResult (rows, columns, the new watermark) as one JSON line to
the table's result folder. The job never commits a watermark: the finishing Lambda
does, from the results, for the tables that have one. A table without a result was
not loaded; one table failing does not stop the others, but fails the job run.

The job uses plain Spark (no GlueContext, DynamicFrame or job bookmarks), so it also
runs under a local spark-submit: there, set SNAPLAKE_S3A=1 to read and write s3a://,
and run the JVMs in UTC (-Duser.timezone=UTC; Glue's are), since a DATETIME has no
zone and the MySQL driver builds it in the JVM's.
"""

import argparse
import json
import os
import re
import sys
import time

import boto3
from pyspark.sql import SparkSession
from pyspark.sql.types import (
    ArrayType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
)

# The job's arguments: ingest.JobArgumentNames() (a Go test checks they are equal).
ARGUMENTS = ["run_id", "plan", "jdbc_url", "secret_id"]

COLUMN_SCHEMA = StructType([
    StructField("name", StringType(), False),
    StructField("type", StringType(), False),
])

# A TableResult (ingest.TableResult); a null watermark is left out of the JSON.
RESULT_SCHEMA = StructType([
    StructField("source", StringType(), False),
    StructField("lake", StringType(), False),
    StructField("rows", LongType(), False),
    StructField("watermark", StringType(), True),
    StructField("columns", ArrayType(COLUMN_SCHEMA, False), False),
    StructField("seconds", DoubleType(), False),
])

# Rows are read in UTC: the session's time_zone (TIMESTAMP values) and the driver's
# conversions. Zero dates become NULL. TINYINT(1) and YEAR stay numbers, as the
# offline loader (internal/aws/mysqlparquet) types them. The driver fetches through a
# server cursor, so a large table streams instead of being held in memory whole.
JDBC_PROPERTIES = {
    "driver": "com.mysql.cj.jdbc.Driver",
    "serverTimezone": "UTC",
    "sessionVariables": "time_zone='+00:00',net_write_timeout=3600",
    "zeroDateTimeBehavior": "CONVERT_TO_NULL",
    "tinyInt1isBit": "false",
    "yearIsDateType": "false",
    "useCursorFetch": "true",
    "fetchsize": "10000",
}

NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
INTEGER = re.compile(r"-?[0-9]+")


def parse_arguments(argv):
    """Returns the job's arguments: Glue's getResolvedOptions, or argparse locally."""
    try:
        from awsglue.utils import getResolvedOptions
    except ImportError:
        parser = argparse.ArgumentParser(description="snaplake ingest job")
        for name in ARGUMENTS:
            parser.add_argument("--" + name, required=True)
        return vars(parser.parse_known_args(argv[1:])[0])
    return getResolvedOptions(argv, ARGUMENTS)


def s3_uri(uri):
    """Maps s3:// to s3a:// for a local Spark (SNAPLAKE_S3A=1)."""
    if os.environ.get("SNAPLAKE_S3A") == "1" and uri.startswith("s3://"):
        return "s3a://" + uri[len("s3://"):]
    return uri


def quote_identifier(name):
    """A MySQL identifier in backticks: names may hold dashes, unicode or keywords."""
    return "`" + name.replace("`", "``") + "`"


def quote_literal(value):
    """A watermark as a SQL literal: a number as it is (compared exactly, not as a
    double), anything else (a date or time) as a string."""
    if NUMBER.fullmatch(value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def bound_query(database, table):
    """The query of an incremental load's upper bound, as MySQL prints it."""
    column = quote_identifier(table["column"])
    source = quote_identifier(database) + "." + quote_identifier(table["source"])
    return "SELECT CAST(MAX(" + column + ") AS CHAR) AS m FROM " + source


def select_list(table):
    """The plan's columns, each under its lake name (ingest.LakeColumns: "order date"
    AS order_date), so that the files, the catalog and Athena see only names made of
    a-z, 0-9 and _. A column added to the table since the plan waits for the next run."""
    if not table["columns"]:
        raise ValueError("the plan lists no columns for table %s" % table["source"])
    return ", ".join(
        quote_identifier(column["source"]) + " AS " + quote_identifier(column["lake"]) for column in table["columns"]
    )


def load_query(database, table, upper):
    """The query of a table's rows: all of them, or those of an incremental load."""
    query = "SELECT " + select_list(table) + " FROM " + quote_identifier(database) + "." + quote_identifier(table["source"])
    if upper is None:
        return query
    column = quote_identifier(table["column"])
    where = [column + " <= " + quote_literal(upper)]
    if table["from"] is not None:
        where.insert(0, column + " > " + quote_literal(table["from"]))
    return query + " WHERE " + " AND ".join(where)


def lake_column(table, source):
    """The lake name of a source column of the table, from the plan's mapping."""
    for column in table["columns"]:
        if column["source"] == source:
            return column["lake"]
    raise ValueError("the plan's range column %s of table %s is not among its columns" % (source, table["source"]))


def range_predicate(column, key_range):
    """One key range as an SQL condition, the text of ingest.KeyRange.Where: From <=
    key < To, a missing bound open, and the NULL keys in the range marked nulls. The
    bounds are decimal integers (checked: they go into the SQL as they are)."""
    parts = []
    for bound, op in ((key_range.get("from"), " >= "), (key_range.get("to"), " < ")):
        if bound is None:
            continue
        if not INTEGER.fullmatch(bound):
            raise ValueError("key range bound %r is not a decimal integer" % bound)
        parts.append(column + op + bound)
    if not parts:
        parts.append(column + " IS NOT NULL")
    predicate = " AND ".join(parts)
    if key_range.get("nulls"):
        predicate = "(" + predicate + " OR " + column + " IS NULL)"
    return predicate


def range_predicates(table):
    """The predicates of a split table, one per key range of the plan (each becomes
    one Spark partition: one task, one JDBC connection, read in parallel), on the
    key's lake name as the derived table (query) AS q names it. None: one query."""
    if not table["ranges"]:
        return None
    column = quote_identifier(lake_column(table, table["rangeColumn"]))
    return [range_predicate(column, key_range) for key_range in table["ranges"]]


def table_result(table, rows, watermark, columns, seconds):
    """The TableResult of a loaded table, as a RESULT_SCHEMA row."""
    result = {
        "source": table["source"],
        "lake": table["lake"],
        "rows": rows,
        "watermark": watermark,
        "columns": columns,
        "seconds": seconds,
    }
    return tuple(result[field.name] for field in RESULT_SCHEMA.fields)


def read_jdbc(spark, connection, query, predicates=None):
    """Reads a query's rows: through one connection, or one per predicate."""
    if predicates:
        return spark.read.jdbc(
            connection["url"], "(" + query + ") AS q", predicates=predicates, properties=connection["properties"]
        )
    return spark.read.jdbc(connection["url"], "(" + query + ") AS q", properties=connection["properties"])


def load_table(spark, connection, plan, table):
    """Loads one table and writes its result; raises on any failure."""
    started = time.monotonic()
    bucket = "s3://" + plan["bucket"] + "/"
    watermark = None
    if table["mode"] == "incremental":
        watermark = read_jdbc(spark, connection, bound_query(plan["database"], table)).first()["m"]
        if watermark is None or watermark == table["from"]:
            # No rows, or none above the watermark: no files, no new partition.
            print("snaplake: %s: no new rows" % table["source"], file=sys.stderr, flush=True)
            row = table_result(table, 0, watermark, [], time.monotonic() - started)
            write_result(spark, bucket + table["result"], row)
            return
    elif table["mode"] != "full":
        raise ValueError("unknown mode %r" % table["mode"])

    data = read_jdbc(spark, connection, load_query(plan["database"], table, watermark), range_predicates(table))
    folder = s3_uri(bucket + table["folder"])
    # maxRecordsPerFile bounds each file; a split table writes at least one per range.
    data.write.option("maxRecordsPerFile", plan["rowsPerFile"]).mode("errorifexists").parquet(folder)
    rows = spark.read.parquet(folder).count()
    columns = [{"name": field.name, "type": field.dataType.simpleString()} for field in data.schema.fields]
    row = table_result(table, rows, watermark, columns, time.monotonic() - started)
    write_result(spark, bucket + table["result"], row)
    print("snaplake: %s: %d rows to %s" % (table["source"], rows, folder), file=sys.stderr, flush=True)


def write_result(spark, uri, row):
    """Writes a TableResult as one JSON line (a part-*.json file) in its folder."""
    spark.createDataFrame([row], RESULT_SCHEMA).coalesce(1).write.mode("overwrite").json(s3_uri(uri))


def read_secret(secret_id):
    """Returns the secret's username and password. A secret ARN names its region."""
    region = secret_id.split(":")[3] if secret_id.startswith("arn:") else None
    secret = boto3.client("secretsmanager", region_name=region).get_secret_value(SecretId=secret_id)
    values = json.loads(secret["SecretString"])
    return values["username"], values["password"]


def main(argv):
    args = parse_arguments(argv)
    spark = (
        SparkSession.builder.appName("snaplake-ingest-" + args["run_id"])
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    plan = json.loads(spark.read.text(s3_uri(args["plan"]), wholetext=True).first()[0])
    if plan["run"] != args["run_id"]:
        raise ValueError("the plan %s is of run %s, not %s" % (args["plan"], plan["run"], args["run_id"]))
    user, password = read_secret(args["secret_id"])
    connection = {
        "url": args["jdbc_url"],
        "properties": dict(JDBC_PROPERTIES, user=user, password=password),
    }

    failed = []
    for table in plan["tables"]:
        try:
            load_table(spark, connection, plan, table)
        except Exception as err:  # the next table goes on; the run fails at the end
            print("snaplake: %s: FAILED: %s" % (table["source"], err), file=sys.stderr, flush=True)
            failed.append(table["source"])
    if failed:
        raise RuntimeError("%d of %d tables failed: %s" % (len(failed), len(plan["tables"]), ", ".join(failed)))


if __name__ == "__main__":
    main(sys.argv)
