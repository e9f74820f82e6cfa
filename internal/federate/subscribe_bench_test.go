package federate

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/snaplake/snaplake/internal/federate/redshift"
	"github.com/snaplake/snaplake/internal/local/s3server"
)

const fullRows = 1_000_000

// BenchmarkSubscribeFull times a subscriber taking a 1,000,000-row full version
// through the Federator, stepped as the workflow runs it (Start; then, while the
// result asks to wait, the Wait state's pause and Poll) with the deployed limits,
// against the floor: a raw COPY of the same unloaded files into a plain table of the
// same warehouse, waited for with a 5 ms poll, with no Federator bookkeeping (no
// staging table, swap, control table, records or lease). The ratio is a new
// subscriber's; a subscriber that replaces the rows it held is printed beside it
// (its swap deletes them and inserts the new ones, in one transaction).
func BenchmarkSubscribeFull(b *testing.B) {
	ctx := context.Background()
	pg := sharedPostgres(b)
	for _, db := range []string{"transform1m", "reporting1m"} {
		if err := pg.CreateDatabase(db); err != nil {
			b.Fatal(err)
		}
	}
	srv, err := s3server.StartFake()
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()
	if err := srv.CreateBucket(ctx, "lake"); err != nil {
		b.Fatal(err)
	}
	open := func(db string) redshift.Warehouse {
		wh, err := redshift.Open(ctx, pg.DSN(db), redshift.Deps{S3: srv.Client()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { wh.Close() })
		return wh
	}
	transform, reporting := open("transform1m"), open("reporting1m")
	// The demo's fact table, 1,000,000 rows.
	if err := transform.Exec(ctx, "CREATE SCHEMA sales",
		"CREATE TABLE sales.fact (id BIGINT NOT NULL, customer_id INTEGER NOT NULL, amount NUMERIC(12,2) NOT NULL, channel VARCHAR(20) NOT NULL, inserted_at TIMESTAMP NOT NULL, updated_at TIMESTAMP)",
		fmt.Sprintf(`INSERT INTO sales.fact SELECT g, 1 + (g * 7919) %% 5000, ((g * 104729) %% 100000) / 100.0, (ARRAY['web', 'store', 'phone'])[1 + g %% 3],
			TIMESTAMP '2026-01-05 08:00:00' + g * INTERVAL '1 second', CASE WHEN g %% 10 = 0 THEN TIMESTAMP '2026-02-01 00:00:00' + g * INTERVAL '1 second' END
			FROM generate_series(1::bigint, %d) g`, fullRows)); err != nil {
		b.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := Store{S3: srv.Client(), Bucket: "lake"}
	table := Table{Table: "sales.fact", Inserted: "inserted_at", Updated: "updated_at"}
	pub := (&Publisher{Warehouse: transform, Store: store, Log: quiet}).Publish(ctx, table, 3)
	if pub.Action != ActionPublished || pub.Kind != KindFull || pub.Rows != fullRows {
		b.Fatalf("publish: %+v", pub)
	}
	m, err := store.Manifest(ctx, table.Table, pub.Version)
	if err != nil {
		b.Fatal(err)
	}

	// raw is the floor: the same files into a plain table.
	raw := func(files []redshift.File) time.Duration {
		if err := reporting.Exec(ctx, "DROP TABLE IF EXISTS public.raw_fact", "CREATE TABLE public.raw_fact ("+columnDefs(m.Columns)+")"); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		n, err := redshift.Copy(ctx, reporting, "public", "raw_fact", files, 5*time.Millisecond)
		d := time.Since(start)
		if err != nil || n != fullRows {
			b.Fatalf("raw COPY: %d rows, %v", n, err)
		}
		return d
	}
	// subscribe takes the newest version, stepped as the workflow steps it: each Wait
	// is slept for its seconds, as the Wait state does. The limits are the deployed
	// ones (statementPoll 10s).
	var waits int
	subscribe := func() (time.Duration, Result) {
		sub := &SubscriberRun{Name: "reporting", Warehouse: reporting, Store: store, Log: quiet}
		start := time.Now()
		res := sub.Start(ctx, table)
		for res.Wait != nil {
			time.Sleep(time.Duration(res.Wait.Seconds) * time.Second)
			res = sub.Poll(ctx, table)
			waits++
		}
		d := time.Since(start)
		if res.Action != ActionLoaded || res.Rows != fullRows {
			b.Fatalf("subscribe: %+v", res)
		}
		return d, res
	}

	raw(m.Files) // warm: the first COPY reads the files cold
	var rawTotal, newTotal, replaceTotal time.Duration
	round := 0
	for b.Loop() {
		// A new subscriber: it has neither the table nor the control table.
		if err := reporting.Exec(ctx, "DROP TABLE IF EXISTS sales.fact", "DROP SCHEMA IF EXISTS "+quoteIdent(ControlSchema)+" CASCADE"); err != nil {
			b.Fatal(err)
		}
		d, res := subscribe()
		newTotal += d
		held, err := store.Manifest(ctx, table.Table, res.Version)
		if err != nil {
			b.Fatal(err)
		}
		rawTotal += raw(held.Files)
		// A new full version (rows updated), replacing the 1,000,000 rows it holds.
		round++
		if err := transform.Exec(ctx, fmt.Sprintf("UPDATE sales.fact SET amount = amount + 1, updated_at = TIMESTAMP '2026-06-01 00:00:00' + %d * INTERVAL '1 second' WHERE id = %d", round, round)); err != nil {
			b.Fatal(err)
		}
		if pub := (&Publisher{Warehouse: transform, Store: store, Log: quiet}).Publish(ctx, table, 3); pub.Action != ActionPublished || pub.Kind != KindFull {
			b.Fatalf("publish round %d: %+v", round, pub)
		}
		d, _ = subscribe()
		replaceTotal += d
	}
	r := float64(newTotal) / float64(rawTotal)
	b.ReportMetric(r, "x-raw-COPY")
	n := float64(b.N)
	fmt.Fprintf(os.Stderr, "per round: raw COPY %.2f s, new subscriber %.2f s, replacing %.2f s; %d Wait states in all\n",
		rawTotal.Seconds()/n, newTotal.Seconds()/n, replaceTotal.Seconds()/n, waits)
	fmt.Printf("federate subscribe: %d rows, %.2f x a raw COPY (a new subscriber, statementPoll %s as deployed; replacing the %d rows it held: %.2f x)\n",
		fullRows, r, Limits{}.orDefault().Poll, fullRows, float64(replaceTotal)/float64(rawTotal))
}
