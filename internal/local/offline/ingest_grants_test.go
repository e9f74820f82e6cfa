package offline

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/local/contract"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
)

// TestIngestGrantsFailureIsNamed: when ApplyGrants cannot change the grants (here its
// role lacks the Lake Formation statement), the real workflow catches the failure,
// notifies it, and the execution fails with an error name an operator can read,
// GrantsNotAppliedError, not the Go wrapper's "wrapError".
func TestIngestGrantsFailureIsNamed(t *testing.T) {
	c, err := contract.Load()
	if err != nil {
		t.Fatal(err)
	}
	base, err := NewAuthority(c)
	if err != nil {
		t.Fatal(err)
	}
	stmt := -1
	for i := range base.StatementCount(deploy.FnApplyGrants) {
		s, err := base.StatementJSON(deploy.FnApplyGrants, i)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(s, "lakeformation:GrantPermissions") {
			stmt = i
		}
	}
	if stmt < 0 {
		t.Fatal("no statement of the grants function allows lakeformation:GrantPermissions")
	}
	without, err := base.Without(deploy.FnApplyGrants, stmt)
	if err != nil {
		t.Fatal(err)
	}
	w := newIngestWorld(t, ingestSource(t), without)
	w.putConfig(ingestTestConfig)
	res := w.wait(w.ing.RunSet(context.Background(), "daily", time.Date(2026, 12, 7, 1, 30, 0, 0, time.UTC), true))
	if res.Status != stepfunctions.StatusFailed || res.Error != "GrantsNotAppliedError" {
		t.Fatalf("run whose grants fail: %s %q %s %v", res.Status, res.Error, res.Cause, res.States)
	}
	if !strings.Contains(res.Cause, "raw_warehouse") {
		t.Errorf("the cause does not name the database: %s", res.Cause)
	}
	ns := w.ing.Notifications()
	if len(ns) != 1 || ns[0].Subject != "snaplake ingest failed" || !strings.Contains(ns[0].Message, "GrantsNotAppliedError") {
		t.Errorf("notifications %+v", ns)
	}
}
