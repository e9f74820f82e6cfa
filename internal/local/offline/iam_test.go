package offline

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/local/contract"
	"github.com/snaplake/snaplake/internal/local/iam"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
)

// night runs what every policy statement of the handlers and the workflow is for: an
// export that succeeds and is announced twice (a duplicate waits, the older
// execution is superseded), an export that fails (its cause is read from RDS), an
// Aurora cluster snapshot's export (the night before's, so that its partition is
// its own), and an export event nobody waits for. With strict, every step must happen; without, a
// step that a denied call prevents is skipped after a while.
func night(t *testing.T, f *fixture, strict bool) {
	t.Helper()
	ctx := context.Background()
	wait := func(what string, cond func() bool) {
		if strict {
			waitUntil(t, what, cond)
			return
		}
		for deadline := time.Now().Add(5 * time.Second); !cond() && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
	}
	pub := func(ev []byte, rule string) {
		if strict {
			publish(t, f, ev, rule)
			return
		}
		_, _ = f.p.Publish(ctx, ev)
	}
	f.rds.outcome["rds:warehouse-prod-2026-11-20-03-10"] = outcomeHold
	f.rds.outcome["rds:billing-prod-2026-11-20-03-10"] = outcomeFail
	pub(snapshotEvent(t, "ev-w1", "warehouse-prod"), events.SnapshotCreated)
	wait("the first execution waits", func() bool { return len(f.p.Tokens.Waiting()) >= 1 })
	// The first start found no snaplake.yaml (the deployed databases); the next ones
	// read its export section, encrypted with the pipeline key as the bucket's default.
	if _, err := f.admin.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(deploy.ConfigKey),
		Body: strings.NewReader("export:\n  databases: [warehouse]\n")}); err != nil {
		t.Fatal(err)
	}
	pub(snapshotEvent(t, "ev-w2", "warehouse-prod"), events.SnapshotCreated)
	wait("the first execution is superseded", func() bool {
		for _, e := range f.p.Executions() {
			select {
			case <-e.Done():
				if r, _ := e.Wait(); slices.Contains(r.States, "Superseded") {
					return true
				}
			default:
			}
		}
		return false
	})
	pub(snapshotEvent(t, "ev-b", "billing-prod"), events.SnapshotCreated)
	f.rds.outcome["rds:warehouse-aurora-2026-11-19-03-10"] = outcomeComplete
	pub([]byte(strings.ReplaceAll(string(clusterSnapshotEvent(t, "ev-a")), "2026-11-20-03-10", "2026-11-19-03-10")), events.ClusterSnapshotCreated)
	stray, err := events.Sample("export-completed")
	if err != nil {
		t.Fatal(err)
	}
	pub([]byte(strings.ReplaceAll(string(stray), "warehouse-prod", "warehouse-prod-gone")), events.ExportFinished)
	f.rds.mu.Lock()
	_, started := f.rds.tasks["warehouse-prod-2026-11-20-03-10"]
	f.rds.mu.Unlock()
	if started {
		f.rds.finish(ctx, "warehouse-prod-2026-11-20-03-10", outcomeComplete)
	}
	done := make(chan struct{})
	go func() { f.p.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		t.Fatal("the night did not end within 90 s")
	}
}

// denied are the calls of principal the authority refused. (S3's missing-key probe is
// no call: the authorizing endpoint decides it without recording it.)
func denied(a *iam.Authority, principal string) []iam.Grant {
	var out []iam.Grant
	for _, d := range a.Denied() {
		if d.Principal == principal {
			out = append(out, d)
		}
	}
	return out
}

// notExercised says which statements no offline run can need: those for the Lambda
// and Step Functions services' own calls (logs, traces, the dead-letter queue), the
// crawler's Data Catalog writes (the offline crawler keeps catalog.json without
// authorizing them), and the bucket checks RDS makes before an export (undocumented,
// so the export stand-ins do not make them). The infra tests check their scope.
func notExercised(principal, stmt string) bool {
	var s struct{ Action any }
	if err := json.Unmarshal([]byte(stmt), &s); err != nil {
		return false
	}
	actions := []string{}
	switch a := s.Action.(type) {
	case string:
		actions = append(actions, a)
	case []any:
		for _, x := range a {
			actions = append(actions, fmt.Sprint(x))
		}
	}
	for _, a := range actions {
		switch {
		case strings.HasPrefix(a, "logs:"), strings.HasPrefix(a, "xray:"), strings.HasPrefix(a, "sqs:"):
		case strings.HasPrefix(a, "glue:") && principal == deploy.RoleCrawler:
		case (a == "s3:ListBucket" || a == "s3:GetBucketLocation") && principal == deploy.RoleExport:
		default:
			return false
		}
	}
	return true
}

func TestTheNightNeedsNoMoreThanThePolicies(t *testing.T) {
	f := newFixture(t)
	night(t, f, true)
	res := f.results(t)
	var done, superseded, failed int
	for _, r := range res {
		switch {
		case r.Status == stepfunctions.StatusSucceeded && strings.Contains(strings.Join(r.States, " "), "Done"):
			done++
		case r.Status == stepfunctions.StatusSucceeded && strings.Contains(strings.Join(r.States, " "), "Superseded"):
			superseded++
		case r.Status == stepfunctions.StatusFailed && r.Error == "ExportFailed":
			failed++
		}
	}
	if done != 2 || superseded != 1 || failed != 1 {
		t.Fatalf("done=%d superseded=%d failed=%d, want 2 (the instance's and the cluster's), 1, 1: %+v", done, superseded, failed, res)
	}
	for _, p := range f.acct.IAM.Principals() {
		if d := denied(f.acct.IAM, p); len(d) != 0 {
			t.Errorf("%s was denied %v", p, d)
		}
	}
	added, _, err := ComparePermissions(f.acct.Contract, f.acct.IAM.Allowed(), filepath.Join("..", "..", "..", PermissionsFile), *updatePermissions)
	if err != nil {
		t.Fatal(err)
	}
	if len(added) > 0 {
		t.Errorf("calls missing from %s (review them, then `make permissions`):\n  %s", PermissionsFile, strings.Join(added, "\n  "))
	}
}

var updatePermissions = flag.Bool("update-permissions", false, "add this night's allowed calls to internal/doctor/permissions.txt")

// TestEveryStatementIsNeeded is the positive control of the IAM enforcement: with any
// one statement removed from a handler's, the workflow's, the export's or the
// crawler's role, the same night is refused a call with AccessDenied. A statement nothing needs would pass here and
// fail this test: remove it from infra/.
func TestEveryStatementIsNeeded(t *testing.T) {
	c, err := contract.Load()
	if err != nil {
		t.Fatal(err)
	}
	base, err := NewAuthority(c)
	if err != nil {
		t.Fatal(err)
	}
	principals := append(append([]string{}, deploy.Functions...), deploy.RoleStateMachine, deploy.RoleExport, deploy.RoleCrawler, deploy.RoleEvents)
	for _, principal := range principals {
		for i := 0; i < base.StatementCount(principal); i++ {
			stmt, err := base.StatementJSON(principal, i)
			if err != nil {
				t.Fatal(err)
			}
			if notExercised(principal, stmt) {
				continue
			}
			t.Run(fmt.Sprintf("%s/%d", principal, i), func(t *testing.T) {
				t.Parallel()
				without, err := base.Without(principal, i)
				if err != nil {
					t.Fatal(err)
				}
				// A denied resume leaves a wait to its re-check or timeout: keep them short.
				recheck := 2 * time.Second
				if principal == deploy.FnResume {
					// The resume's own statements: a re-check that came first would end
					// the failed export's wait before the resume reads its cause
					// (rds:DescribeExportTasks), and under load it does. A re-check
					// must come before the timeout, so 15 s of the 20.
					recheck = 15 * time.Second
				}
				f := newFixture(t, fixtureOptions{iam: without, recheck: recheck, timeout: 20 * time.Second, crawl: 5 * time.Second})
				night(t, f, false)
				if d := denied(without, principal); len(d) == 0 {
					t.Errorf("without statement %d of %s the night was refused nothing: the statement is not needed\n%s", i, principal, stmt)
				} else {
					t.Logf("without %s: denied %s on %s", stmt, d[0].Action, d[0].Resource)
				}
			})
		}
	}
}
