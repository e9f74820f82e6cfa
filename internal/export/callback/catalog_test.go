package callback

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation"
	lftypes "github.com/aws/aws-sdk-go-v2/service/lakeformation/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/deploy"
	localglue "github.com/snaplake/snaplake/internal/local/glue"
	locallf "github.com/snaplake/snaplake/internal/local/lakeformation"
)

// A crawl of a database folder without a crawler creates its Glue database, the
// _latest companion and the crawler with the stack's crawler settings, then points
// and starts it; the next crawl finds it. Without NewCatalogs the crawl fails with
// CrawlerNotFoundError, as before.
func TestCrawlCreatesTheCatalogOfANewDatabase(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	cat, err := localglue.OpenCatalog(filepath.Join(t.TempDir(), "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	g := &localglue.Service{S3: st.S3.(*s3.Client), Catalog: cat, Duration: 50 * time.Millisecond}
	t.Cleanup(func() { _ = g.Wait(ctx) })
	req := AwaitRequest{Kind: KindCrawl, Key: "snaplake-hr", Token: "t", Execution: "e", Folder: "Hr", Tables: []string{"staff"}}

	var nf *CrawlerNotFoundError
	if _, err := (AwaitHandler{Store: st, Glue: g, DataPrefix: "data/", Log: quietLog()}).Handle(ctx, req); !errors.As(err, &nf) {
		t.Fatalf("without NewCatalogs: %v, want *CrawlerNotFoundError", err)
	}

	h := AwaitHandler{Store: st, Glue: g, DataPrefix: "data/", Log: quietLog(),
		NewCatalogs: &NewCatalogs{Glue: g, DatabasePrefix: "snap_", CrawlerRole: "arn:aws:iam::1:role/crawler", SecurityConfiguration: "sec"}}
	req.Token, req.Execution = "t2", "e2"
	if _, err := h.Handle(ctx, req); err != nil {
		t.Fatal(err)
	}
	dbs, _ := cat.Databases()
	if !slices.Contains(dbs, "snap_hr") || !slices.Contains(dbs, "snap_hr_latest") {
		t.Errorf("databases = %v, want snap_hr and snap_hr_latest", dbs)
	}
	got, err := g.GetCrawler(ctx, &glue.GetCrawlerInput{Name: aws.String("snaplake-hr")})
	if err != nil {
		t.Fatal(err)
	}
	c := got.Crawler
	if aws.ToString(c.DatabaseName) != "snap_hr" || aws.ToString(c.Role) != "arn:aws:iam::1:role/crawler" ||
		aws.ToString(c.Configuration) != deploy.CrawlerConfiguration ||
		string(c.SchemaChangePolicy.DeleteBehavior) != deploy.CrawlerDeleteBehavior || string(c.RecrawlPolicy.RecrawlBehavior) != deploy.CrawlerRecrawlBehavior {
		t.Errorf("crawler = db %s role %s conf %s policy %+v recrawl %+v", aws.ToString(c.DatabaseName), aws.ToString(c.Role), aws.ToString(c.Configuration), c.SchemaChangePolicy, c.RecrawlPolicy)
	}
	if len(c.Targets.S3Targets) != 1 || aws.ToString(c.Targets.S3Targets[0].Path) != "s3://lake/data/Hr/staff/" {
		t.Errorf("targets = %+v, want the one table folder", c.Targets.S3Targets)
	}
	if err := g.Wait(ctx); err != nil || g.Running("snaplake-hr") {
		t.Errorf("the crawl did not run to its end: %v", err)
	}
	if last, err := g.GetCrawler(ctx, &glue.GetCrawlerInput{Name: aws.String("snaplake-hr")}); err != nil || last.Crawler.LastCrawl == nil || last.Crawler.LastCrawl.Status != gluetypes.LastCrawlStatusSucceeded {
		t.Errorf("last crawl of the created crawler: %+v %v, want SUCCEEDED", last, err)
	}

	// A second creation attempt (another execution raced this one) meets
	// AlreadyExistsException for all three and carries on.
	if err := h.NewCatalogs.create(ctx, quietLog(), "lake", "data/", "Hr", "snaplake-hr"); err != nil {
		t.Errorf("creating what exists: %v", err)
	}
	// A crawler of this name that is not the stack's (another stack's, or made by
	// hand: crawler names are account-wide) is neither pointed nor started.
	if _, err := g.CreateCrawler(ctx, &glue.CreateCrawlerInput{Name: aws.String("snaplake-crm"), Role: aws.String("arn:aws:iam::1:role/other"),
		DatabaseName: aws.String("other_crm"), Targets: &gluetypes.CrawlerTargets{S3Targets: []gluetypes.S3Target{{Path: aws.String("s3://lake/data/crm/")}}}}); err != nil {
		t.Fatal(err)
	}
	var notOurs *CrawlerNotOursError
	crm := AwaitRequest{Kind: KindCrawl, Key: "snaplake-crm", Token: "t3", Execution: "e3", Folder: "crm", Tables: []string{"leads"}}
	if _, err := h.Handle(ctx, crm); !errors.As(err, &notOurs) || notOurs.Role != "arn:aws:iam::1:role/other" {
		t.Errorf("another's crawler: %v, want *CrawlerNotOursError naming its role", err)
	}
	if other, err := g.GetCrawler(ctx, &glue.GetCrawlerInput{Name: aws.String("snaplake-crm")}); err != nil || aws.ToString(other.Crawler.Targets.S3Targets[0].Path) != "s3://lake/data/crm/" {
		t.Errorf("another's crawler was changed: %+v %v", other, err)
	}
	// A key that is not the folder's crawler is refused before anything is created.
	var iw *InvalidWaitError
	if err := h.NewCatalogs.create(ctx, quietLog(), "lake", "data/", "crm", "snaplake-hr"); !errors.As(err, &iw) {
		t.Errorf("mismatched key: %v, want *InvalidWaitError", err)
	}
}

// NewCatalogsFromEnv: nothing deployed means no creation; a partial deployment is refused.
func TestNewCatalogsFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if n, err := NewCatalogsFromEnv(env(nil), nil, nil); n != nil || err != nil {
		t.Errorf("not deployed: %v %v, want nil nil", n, err)
	}
	full := map[string]string{deploy.EnvCrawlerRoleArn: "r", deploy.EnvGlueDatabasePrefix: "snap_", deploy.EnvCrawlerSecurityConfiguration: "s"}
	if n, err := NewCatalogsFromEnv(env(full), &localglue.Service{}, nil); err != nil || n.DatabasePrefix != "snap_" || n.CrawlerRole != "r" || n.SecurityConfiguration != "s" {
		t.Errorf("deployed: %+v %v", n, err)
	}
	for _, drop := range []string{deploy.EnvGlueDatabasePrefix, deploy.EnvCrawlerSecurityConfiguration} {
		m := map[string]string{}
		for k, v := range full {
			if k != drop {
				m[k] = v
			}
		}
		if _, err := NewCatalogsFromEnv(env(m), &localglue.Service{}, nil); err == nil {
			t.Errorf("without %s: no error", drop)
		}
	}
}

// Where Lake Formation governs the snapshot databases, a database cataloged at
// runtime grants nothing by default and the stack's roles get exactly the
// permissions the stack gives them on a deployed database
// (deploy.SnapshotLakeGrants), granted by the crawl wait's role as a data lake
// administrator. A role that is not one is refused (Lake Formation's implicit
// permissions let a database's creator grant others only CREATE_TABLE): the wait
// fails with CatalogGrantError and creates no crawler.
func TestGovernedNewDatabaseGrantsTheStackRoles(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	cat, err := localglue.OpenCatalog(filepath.Join(t.TempDir(), "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	g := &localglue.Service{S3: st.S3.(*s3.Client), Catalog: cat, Duration: 50 * time.Millisecond}
	t.Cleanup(func() { _ = g.Wait(ctx) })
	lf, err := locallf.Open(filepath.Join(t.TempDir(), "lf.json"))
	if err != nil {
		t.Fatal(err)
	}
	lf.SetCatalog(cat)
	const waitRole, admin = "arn:aws:iam::111122223333:role/await", "arn:aws:iam::111122223333:role/cfn-exec"
	roles := deploy.SnapshotRoles{Crawler: "arn:aws:iam::111122223333:role/crawler", Latest: "arn:aws:iam::111122223333:role/latest", Grants: "arn:aws:iam::111122223333:role/grants"}
	env := map[string]string{deploy.EnvCrawlerRoleArn: roles.Crawler, deploy.EnvGlueDatabasePrefix: "snap_", deploy.EnvCrawlerSecurityConfiguration: "sec",
		deploy.EnvLatestRoleArn: roles.Latest, deploy.EnvGrantsRoleArn: roles.Grants}
	// The account's CreateDatabaseDefaultPermissions (ALL to IAM_ALLOWED_PRINCIPALS)
	// applies to every database created.
	rec := &recordingCreator{CatalogCreator: g, lake: lf}
	nc, err := NewCatalogsFromEnv(func(k string) string { return env[k] }, rec, lf.AsPrincipal(waitRole))
	if err != nil || nc.Governed == nil {
		t.Fatalf("governed env: %+v %v", nc, err)
	}
	h := AwaitHandler{Store: st, Glue: g, DataPrefix: "data/", Log: quietLog(), NewCatalogs: nc}
	req := AwaitRequest{Kind: KindCrawl, Key: "snaplake-hr", Token: "t", Execution: "e", Folder: "hr", Tables: []string{"staff"}}

	// An account with another administrator only: the wait's role may not grant.
	setAdmins(t, lf, admin)
	var ge *CatalogGrantError
	if _, err := h.Handle(ctx, req); !errors.As(err, &ge) || ge.Database != "snap_hr" || ge.Principal != roles.Crawler {
		t.Fatalf("not an administrator: %v, want *CatalogGrantError on snap_hr for the crawler role", err)
	}
	if _, err := g.GetCrawler(ctx, &glue.GetCrawlerInput{Name: aws.String("snaplake-hr")}); err == nil {
		t.Error("the crawler was created although its permissions were refused")
	}

	// Its role appended to the administrators (the stack's DataLakeSettings): the
	// retry grants, then creates and starts the crawler.
	setAdmins(t, lf, admin, waitRole)
	req.Token, req.Execution = "t2", "e2"
	if _, err := h.Handle(ctx, req); err != nil {
		t.Fatal(err)
	}
	if len(rec.databases) != 4 { // two per attempt
		t.Errorf("CreateDatabase calls = %d, want 4", len(rec.databases))
	}
	for _, db := range rec.databases {
		if p := db.CreateTableDefaultPermissions; p == nil || len(p) != 0 {
			t.Errorf("%s grants new tables %+v by default, want an empty list (Lake Formation permissions only)", aws.ToString(db.Name), p)
		}
	}
	held, err := lf.Grants()
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, h := range held {
		got = append(got, fmt.Sprintf("%s %s.%s %v grantable %v", h.Principal, h.Database, h.Table, h.Permissions, h.GrantOption))
	}
	for _, w := range deploy.SnapshotLakeGrants("snap_hr", roles) {
		slices.Sort(w.Permissions)
		slices.Sort(w.Grantable)
		want = append(want, fmt.Sprintf("%s %s.%s %v grantable %v", w.Principal, w.Database, w.Table, w.Permissions, w.Grantable))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Lake Formation holds\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func setAdmins(t *testing.T, lf *locallf.Service, admins ...string) {
	t.Helper()
	cur, err := lf.GetDataLakeSettings(context.Background(), &lakeformation.GetDataLakeSettingsInput{})
	if err != nil {
		t.Fatal(err)
	}
	s := cur.DataLakeSettings
	s.DataLakeAdmins = nil
	for _, a := range admins {
		s.DataLakeAdmins = append(s.DataLakeAdmins, lftypes.DataLakePrincipal{DataLakePrincipalIdentifier: aws.String(a)})
	}
	if _, err := lf.PutDataLakeSettings(context.Background(), &lakeformation.PutDataLakeSettingsInput{DataLakeSettings: s}); err != nil {
		t.Fatal(err)
	}
}

// recordingCreator keeps the databases it was asked to create and, with lake,
// gives each new one ALL to IAM_ALLOWED_PRINCIPALS, as Lake Formation's default
// for new databases does.
type recordingCreator struct {
	CatalogCreator
	lake      *locallf.Service
	databases []gluetypes.DatabaseInput
}

func (r *recordingCreator) CreateDatabase(ctx context.Context, in *glue.CreateDatabaseInput, optFns ...func(*glue.Options)) (*glue.CreateDatabaseOutput, error) {
	r.databases = append(r.databases, *in.DatabaseInput)
	out, err := r.CatalogCreator.CreateDatabase(ctx, in, optFns...)
	if err == nil && r.lake != nil {
		if _, err := r.lake.GrantPermissions(ctx, &lakeformation.GrantPermissionsInput{
			Principal:   &lftypes.DataLakePrincipal{DataLakePrincipalIdentifier: aws.String(deploy.IAMAllowedPrincipals)},
			Resource:    &lftypes.Resource{Database: &lftypes.DatabaseResource{Name: in.DatabaseInput.Name}},
			Permissions: []lftypes.Permission{lftypes.PermissionAll},
		}); err != nil {
			return nil, err
		}
	}
	return out, err
}
