// Command relocatebench measures the relocate mover against the published design's
// mover (seed 003: one listed page, then copy and delete one object at a time) on a
// local S3 server behind a fixed per-request latency, and its peak RSS on a large export.
//
// Run: go run ./internal/local/relocatebench  (flags: -n, -latency, -concurrency, -rss-objects)
// The last line is: relocate: N objects, X obj/s, R x baseline, P% of bound
// Environment: RELOCATEBENCH_LOG=1 shows phase logs and the child's heap,
// RELOCATEBENCH_SKIP_BASELINE=1 runs only the mover, RELOCATEBENCH_CPUPROFILE=file profiles.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/aws/awsconfig"
	"github.com/snaplake/snaplake/internal/export/relocate"
	"github.com/snaplake/snaplake/internal/local/s3server"
)

func main() {
	n := flag.Int("n", 5000, "objects in the benchmarked export")
	latency := flag.Duration("latency", 20*time.Millisecond, "delay the proxy adds to every request")
	concurrency := flag.Int("concurrency", relocate.DefaultConcurrency, "relocate concurrency")
	rssObjects := flag.Int("rss-objects", 100000, "objects relocated by a child process whose peak RSS is measured (0 skips)")
	server = flag.String("server", "gofakes3", "local S3 server: gofakes3 (in-process) or versitygw (a separate process)")
	child := flag.Bool("child", false, "internal: relocate as a child process configured by the environment")
	bucket := flag.String("bucket", "", "internal: child's bucket")
	exportID := flag.String("export-id", "", "internal: child's export id")
	flag.Parse()

	ctx := context.Background()
	// As the relocate Lambda and CLI do. The gofakes3 server runs in this process
	// too, so it gets the same settings.
	relocate.TuneGC(relocate.DefaultMemoryLimit)
	if path := os.Getenv("RELOCATEBENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil {
			_ = pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	if *child {
		if err := runChild(ctx, *bucket, *exportID, *concurrency); err != nil {
			fmt.Fprintln(os.Stderr, "relocatebench child:", err)
			os.Exit(1)
		}
		return
	}
	if err := bench(ctx, *n, *latency, *concurrency, *rssObjects); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "relocatebench:", err)
		os.Exit(1)
	}
}

const date = "2026-07-01"

var server *string

func bench(ctx context.Context, n int, latency time.Duration, concurrency, rssObjects int) error {
	var srv *s3server.Server
	var err error
	if *server == "versitygw" {
		dir, derr := os.MkdirTemp("", "relocatebench-")
		if derr != nil {
			return derr
		}
		defer os.RemoveAll(dir)
		srv, err = s3server.StartVersityGW(ctx, dir, nil)
	} else {
		srv, err = s3server.StartFake()
	}
	if err != nil {
		return err
	}
	defer srv.Stop()
	for _, b := range []string{"bench", "baseline", "scratch"} {
		if err := srv.CreateBucket(ctx, b); err != nil {
			return err
		}
	}
	if err := seed(srv, "bench", "bench-export", n, 200); err != nil {
		return err
	}
	if err := seed(srv, "baseline", "baseline-export", n, 200); err != nil {
		return err
	}
	base, err := baseLatency(ctx, srv.Client())
	if err != nil {
		return err
	}
	proxy, err := s3server.NewLatencyProxy(srv.Endpoint, latency)
	if err != nil {
		return err
	}
	defer proxy.Close()
	proxied := *srv
	proxied.Endpoint = proxy.URL

	if os.Getenv("RELOCATEBENCH_SKIP_BASELINE") != "" {
		return relocateOnly(ctx, proxied, concurrency)
	}
	moved, baseSeconds, err := baselineMover(ctx, proxied.Client(), "baseline", "exports/baseline-export")
	if err != nil {
		return err
	}
	baseRate := float64(moved) / baseSeconds
	fmt.Printf("baseline (seed 003 mover): moved %d of %d objects in %.2fs, %.1f obj/s\n", moved, n, baseSeconds, baseRate)

	client := proxied.Client(func(o *s3.Options) { o.HTTPClient = relocate.NewHTTPClient(concurrency) })
	before := proxy.Requests()
	start := time.Now()
	sum, err := relocate.Run(ctx, client, relocate.Options{Bucket: "bench", ExportID: "bench-export", SnapshotDate: date, Concurrency: concurrency, Retention: relocate.DefaultRetention}, benchLog())
	seconds := time.Since(start).Seconds()
	if err != nil {
		return fmt.Errorf("relocate benchmark export: %w", err)
	}
	if sum.Moved != n {
		return fmt.Errorf("relocate moved %d objects, want %d", sum.Moved, n)
	}
	rate := float64(n) / seconds
	roundTrip := latency + base
	bound := float64(concurrency) / roundTrip.Seconds()
	fmt.Printf("relocate: %d objects in %.2fs with %d requests; round trip %.2f ms (%v proxy + %.2f ms measured base), bound %d / round trip = %.0f obj/s\n",
		n, seconds, proxy.Requests()-before, float64(roundTrip)/1e6, latency, float64(base)/1e6, concurrency, bound)

	if rssObjects > 0 {
		if err := measureRSS(ctx, srv, rssObjects, concurrency); err != nil {
			return err
		}
	}
	fmt.Printf("relocate: %d objects, %.0f obj/s, %.1f x baseline, %.0f%% of bound\n", n, rate, rate/baseRate, 100*rate/bound)
	return nil
}

// seed writes an RDS-export-shaped folder of n small objects in tables of perTable
// files (current naming convention), with metadata files and _SUCCESS markers:
// straight into gofakes3's backend, or through the S3 API of another server.
func seed(srv *s3server.Server, bucket, exportID string, n, perTable int) error {
	type object struct {
		key  string
		body []byte
	}
	root := "exports/" + exportID + "/"
	body := bytes.Repeat([]byte("p"), 256)
	var objects []object
	for i := range n {
		t := i / perTable
		key := fmt.Sprintf("%sdb%d/db%d.table%03d/%d/part-%05d-%08x-c000.gz.parquet", root, t%4, t%4, t, i%3+1, i, i*2654435761)
		objects = append(objects, object{key, body})
	}
	objects = append(objects,
		object{root + "export_info_" + exportID + ".json", []byte("{}")},
		object{root + "export_tables_info_" + exportID + "_from_1_to_9.json", []byte(`{"perTableStatus":[]}`)},
		object{root + "_SUCCESS", nil})
	if srv.Backend != nil {
		for _, o := range objects {
			if _, err := srv.Backend.PutObject(bucket, o.key, map[string]string{}, bytes.NewReader(o.body), int64(len(o.body)), nil); err != nil {
				return fmt.Errorf("seed %s/%s: %w", bucket, o.key, err)
			}
		}
		return nil
	}
	client := srv.Client()
	work := make(chan object)
	errs := make(chan error, 64)
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range work {
				if _, err := client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(o.key), Body: bytes.NewReader(o.body)}); err != nil {
					select {
					case errs <- fmt.Errorf("seed %s/%s: %w", bucket, o.key, err):
					default:
					}
				}
			}
		}()
	}
	for _, o := range objects {
		work <- o
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// baseLatency is the mean time of a CopyObject straight to the server: what the
// server and client cost on top of the proxy's delay.
func baseLatency(ctx context.Context, c *s3.Client) (time.Duration, error) {
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("scratch"), Key: aws.String("src"), Body: strings.NewReader("x")}); err != nil {
		return 0, fmt.Errorf("seed latency probe: %w", err)
	}
	const probes = 200
	start := time.Now()
	for i := range probes {
		if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("scratch"), Key: aws.String(fmt.Sprintf("dst%d", i%10)), CopySource: aws.String("scratch/src")}); err != nil {
			return 0, fmt.Errorf("probe copy: %w", err)
		}
	}
	return time.Since(start) / probes, nil
}

// baselineMover is the published Lambda (seed 003) in Go: one ListObjectsV2 page
// (so at most 1000 objects), then for each object an awaited CopyObject to
// data/<key without its first folder> followed by a DeleteObject that is started but
// not awaited, as `.then(() => { s3.send(delete) })` does. Errors are only logged.
func baselineMover(ctx context.Context, c *s3.Client, bucket, prefix string) (int, float64, error) {
	start := time.Now()
	page, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	if err != nil {
		return 0, 0, fmt.Errorf("baseline list: %w", err)
	}
	var deletes sync.WaitGroup
	moved := 0
	for _, o := range page.Contents {
		key := aws.ToString(o.Key)
		_, rest, _ := strings.Cut(key, "/")
		if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), CopySource: aws.String(bucket + "/" + key), Key: aws.String("data/" + rest)}); err != nil {
			fmt.Fprintln(os.Stderr, "baseline copy:", err)
			continue
		}
		moved++
		deletes.Add(1)
		go func() {
			defer deletes.Done()
			if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
				fmt.Fprintln(os.Stderr, "baseline delete:", err)
			}
		}()
	}
	deletes.Wait()
	return moved, time.Since(start).Seconds(), nil
}

// measureRSS relocates a large export in a child process, configured exactly like
// the CLI (environment endpoint, awsconfig), and reads its peak RSS from rusage.
func measureRSS(ctx context.Context, srv *s3server.Server, objects, concurrency int) error {
	if err := srv.CreateBucket(ctx, "rss"); err != nil {
		return err
	}
	if err := seed(srv, "rss", "rss-export", objects, 2000); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	cmd := exec.CommandContext(ctx, self, "-child", "-bucket", "rss", "-export-id", "rss-export", "-concurrency", fmt.Sprint(concurrency))
	cmd.Env = append(os.Environ(), srv.Env()...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if os.Getenv("RELOCATEBENCH_LOG") != "" {
		cmd.Stderr = os.Stderr
	}
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("child relocation of %d objects: %w\n%s", objects, err, errOut.String())
	}
	var res childResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Summary.Moved != objects {
		return fmt.Errorf("child relocation result %q (%v), want %d moved", out.String(), err, objects)
	}
	// Not rusage's Maxrss: the child is started with vfork, so the kernel folds this
	// (large, server-holding) process's RSS into the child's maxrss at exec. VmHWM is
	// the peak of the child's own address space.
	fmt.Printf("relocate rss: %d objects relocated by a child process in %.1fs, peak RSS %.1f MB (VmHWM; target < 128 MB)\n",
		objects, time.Since(start).Seconds(), float64(res.PeakRSSKiB)/1024)
	return nil
}

func runChild(ctx context.Context, bucket, exportID string, concurrency int) error {
	cfg, err := awsconfig.Load(ctx, config.WithHTTPClient(relocate.NewHTTPClient(concurrency)))
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if os.Getenv("RELOCATEBENCH_LOG") != "" {
		level = slog.LevelInfo
		stop := sampleMemory()
		defer stop()
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	sum, err := relocate.Run(ctx, awsconfig.NewS3(cfg), relocate.Options{Bucket: bucket, ExportID: exportID, SnapshotDate: date, Concurrency: concurrency}, log)
	if err != nil {
		return err
	}
	hwm, err := peakRSS()
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(childResult{Summary: sum, PeakRSSKiB: hwm})
}

type childResult struct {
	Summary    relocate.Summary `json:"summary"`
	PeakRSSKiB int64            `json:"peakRssKiB"`
}

// peakRSS reads this process's resident set high-water mark (VmHWM, KiB).
func peakRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("read peak RSS: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kib int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kib); err != nil {
				return 0, fmt.Errorf("parse VmHWM %q: %w", line, err)
			}
			return kib, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/self/status")
}

// benchLog shows the mover's phase logs when RELOCATEBENCH_LOG is set.
func benchLog() *slog.Logger {
	if os.Getenv("RELOCATEBENCH_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

// relocateOnly runs just the mover (RELOCATEBENCH_SKIP_BASELINE=1), for profiling it.
func relocateOnly(ctx context.Context, proxied s3server.Server, concurrency int) error {
	client := proxied.Client(func(o *s3.Options) { o.HTTPClient = relocate.NewHTTPClient(concurrency) })
	_, err := relocate.Run(ctx, client, relocate.Options{Bucket: "bench", ExportID: "bench-export", SnapshotDate: date, Concurrency: concurrency}, benchLog())
	return err
}

// sampleMemory prints the child's largest heap and runtime footprint, to see where
// peak RSS comes from.
func sampleMemory() func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var maxHeap, maxSys uint64
		var ms runtime.MemStats
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > maxHeap {
				maxHeap = ms.HeapAlloc
				fmt.Fprintf(os.Stderr, "child heap %d MB sys %d MB at %s\n", maxHeap>>20, ms.Sys>>20, time.Now().Format("15:04:05.000"))
			}
			maxSys = max(maxSys, ms.Sys)
			select {
			case <-done:
				fmt.Fprintf(os.Stderr, "child max heap %d MB, max sys %d MB\n", maxHeap>>20, maxSys>>20)
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
