package export

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/local/s3server"
)

// The night reads which databases to export from snaplake.yaml's export section each
// time it starts: ExportOnly is the listed databases less the excluded ones, the
// exclusions RDS cannot express go to relocation, and a missing file or section
// keeps the deployed databases. A section that does not validate fails the night,
// naming the line, before any export starts.
func TestSelectionFromTheConfig(t *testing.T) {
	ctx := context.Background()
	srv, err := s3server.StartFake()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	if err := srv.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	c := srv.Client()
	for _, tt := range []struct {
		name, yaml  string // yaml "": no config file
		exportOnly  []string
		exclude     []string
		refusedLine string // the error names this, and nothing starts
	}{
		{name: "no config: the deployed databases", exportOnly: []string{"warehouse"}, exclude: []string{}},
		{name: "no export section", yaml: "federate:\n  tables: []\n", exportOnly: []string{"warehouse"}, exclude: []string{}},
		{name: "every database but some tables", yaml: "export:\n  exclude: [warehouse.secrets, hr]\n",
			exportOnly: nil, exclude: []string{"warehouse.secrets", "hr"}},
		{name: "listed databases", yaml: "export:\n  databases: [shop, Hr, warehouse]\n  exclude: [hr, shop.cards]\n",
			exportOnly: []string{"shop", "warehouse"}, exclude: []string{"shop.cards"}},
		{name: "not a table", yaml: "export:\n  exclude:\n    - shop\n    - a.b.c\n", refusedLine: "snaplake.yaml:4"},
		{name: "unknown field", yaml: "export:\n  databse: [shop]\n", refusedLine: "snaplake.yaml:2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.yaml == "" {
				_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("lake"), Key: aws.String(deploy.ConfigKey)})
			} else {
				_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String(deploy.ConfigKey), Body: strings.NewReader(tt.yaml)})
			}
			if err != nil {
				t.Fatal(err)
			}
			m := newMemRDS()
			h := handler(m, testConfig())
			h.S3 = c
			res, err := h.Handle(ctx, snapshotEvent(events.EventAutomatedSnapshotCreated, "rds:warehouse-prod-2026-11-20-03-10"))
			if tt.refusedLine != "" {
				var refused *config.RefusedError
				if !errors.As(err, &refused) || !strings.Contains(err.Error(), tt.refusedLine) || len(m.started) != 0 {
					t.Fatalf("err = %v, started %d; want a *config.RefusedError naming %s and no export", err, len(m.started), tt.refusedLine)
				}
				return
			}
			if err != nil || len(m.started) != 1 {
				t.Fatalf("Handle: %v, started %d", err, len(m.started))
			}
			if got := m.started[0].ExportOnly; !slices.Equal(got, tt.exportOnly) {
				t.Errorf("ExportOnly = %q, want %q", got, tt.exportOnly)
			}
			if !slices.Equal(res.Exclude, tt.exclude) || res.Exclude == nil {
				t.Errorf("exclude = %#v, want %#v (never null)", res.Exclude, tt.exclude)
			}
		})
	}
}

func TestSelectionValidate(t *testing.T) {
	for _, tt := range []struct {
		sel  Selection
		want string // "" valid; else a substring of the one error
	}{
		{Selection{}, ""},
		{Selection{Databases: []string{"shop"}, Exclude: []string{"shop.cards"}}, ""},
		{Selection{Databases: []string{}}, "export.databases: lists no database"},
		{Selection{Databases: []string{"shop", "Shop"}}, "export.databases[1]: Shop is listed twice"},
		{Selection{Databases: []string{"a.b"}}, `export.databases[0]: "a.b" is not a database name`},
		{Selection{Exclude: []string{"shop.*"}}, `export.exclude[0]: "shop.*" is neither`},
		{Selection{Exclude: []string{"shop", "shop.cards"}}, "export.exclude[1]: shop.cards is already excluded with its database shop"},
		{Selection{Databases: []string{"shop"}, Exclude: []string{"hr"}}, "export.exclude[0]: hr is not among the databases exported"},
		{Selection{Databases: []string{"shop"}, Exclude: []string{"SHOP"}}, "export.exclude: excludes every database"},
	} {
		errs := tt.sel.Validate()
		switch {
		case tt.want == "" && len(errs) != 0:
			t.Errorf("%+v: %v, want valid", tt.sel, errs)
		case tt.want != "" && (len(errs) != 1 || !strings.Contains(errs[0].Error(), tt.want)):
			t.Errorf("%+v: %v, want one error with %q", tt.sel, errs, tt.want)
		}
	}
}
