package redshift

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestParseDataAPIURL(t *testing.T) {
	cases := []struct {
		url    string
		want   DataAPIConfig
		region string
	}{
		{"redshift://analytics/dev", DataAPIConfig{WorkgroupName: "analytics", Database: "dev"}, ""},
		{"redshift://analytics/dev?secret_arn=arn%3Aaws%3Asecretsmanager%3Aeu-west-1%3A1%3Asecret%3Ars-AbC&iam_role=arn:aws:iam::1:role/unload",
			DataAPIConfig{WorkgroupName: "analytics", Database: "dev", SecretArn: "arn:aws:secretsmanager:eu-west-1:1:secret:rs-AbC", IAMRole: "arn:aws:iam::1:role/unload"}, ""},
		{"redshift://prod-cluster-1/warehouse?cluster=true&db_user=federator&iam_role=arn:aws:iam::1:role/unload&region=eu-west-1",
			DataAPIConfig{ClusterIdentifier: "prod-cluster-1", Database: "warehouse", DbUser: "federator", IAMRole: "arn:aws:iam::1:role/unload"}, "eu-west-1"},
		{"redshift://analytics/dev?cluster=false&poll=250ms&timeout=2h",
			DataAPIConfig{WorkgroupName: "analytics", Database: "dev", PollInterval: 250 * time.Millisecond, Timeout: 2 * time.Hour}, ""},
		{"redshift://c1/dev?cluster=1", DataAPIConfig{ClusterIdentifier: "c1", Database: "dev"}, ""},
	}
	for _, c := range cases {
		got, region, err := ParseDataAPIURL(c.url)
		if err != nil {
			t.Errorf("%s: %v", c.url, err)
			continue
		}
		if got != c.want || region != c.region {
			t.Errorf("%s:\n got %+v %q\nwant %+v %q", c.url, got, region, c.want, c.region)
		}
	}
}

// TestDefaultRoleIsRefused: iam_role=default would run UNLOAD and COPY as the
// cluster's default role, which cannot reach federator/: a typed error saying so.
func TestDefaultRoleIsRefused(t *testing.T) {
	for _, url := range []string{"redshift://c1/dev?cluster=true&iam_role=default", "redshift://analytics/dev?secret_arn=s&iam_role=default"} {
		_, err := Open(context.Background(), url, Deps{AWS: aws.Config{Region: "eu-west-1"}})
		var de *DefaultRoleError
		if !errors.As(err, &de) || !strings.Contains(err.Error(), "FederateWarehouseRoleArn") {
			t.Errorf("%s: got %v, want a *DefaultRoleError naming the stack's role", url, err)
		}
	}
}

func TestBadURLsAreTypedErrorsNamingTheProblem(t *testing.T) {
	cases := []struct{ url, says string }{
		{"analytics/dev", "no scheme"},
		{"mysql://u:p@h/db", `unknown scheme "mysql"`},
		{"redshift://analytics", "exactly one database"},
		{"redshift://analytics/", "exactly one database"},
		{"redshift://analytics/dev/extra", "exactly one database"},
		{"redshift:///dev", "not a workgroup name"},
		{"redshift://my_workgroup/dev", "not a workgroup name"},
		{"redshift://analytics:5439/dev", "no port"},
		{"redshift://admin:hunter2@analytics/dev", "no user or password"},
		{"redshift://analytics/dev?secret=x", `unknown parameter "secret"`},
		{"redshift://analytics/dev?cluster=yes", "cluster="},
		{"redshift://analytics/dev?db_user=u", "cluster=true"},
		{"redshift://c/dev?cluster=true&db_user=u&secret_arn=s", "give one"},
		{"redshift://analytics/dev?poll=soon", "poll="},
		{"redshift://analytics/dev?timeout=-1s", "timeout="},
		{"redshift://analytics/dev?iam_role=a&iam_role=b", "given 2 times"},
		{"redshift://analytics/dev#frag", "fragment"},
		{"redshift://analytics/dev?a=%zz", "query"},
		{"postgres://admin:hunter2@localhost:port/db", "not a URL"},
		{"redshift://admin:hunter2@analytics:x/dev", "not a URL"},
	}
	deps := Deps{AWS: aws.Config{Region: "eu-west-1"}}
	for _, c := range cases {
		w, err := Open(context.Background(), c.url, deps)
		var ue *URLError
		if !errors.As(err, &ue) {
			t.Errorf("%s: got %v, %v; want a *URLError", c.url, w, err)
			continue
		}
		if !strings.Contains(ue.Reason, c.says) {
			t.Errorf("%s: reason %q, want it to say %q", c.url, ue.Reason, c.says)
		}
		if !strings.Contains(err.Error(), "warehouse URL ") {
			t.Errorf("%s: message %q does not name the URL", c.url, err)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the password is in the message %q", c.url, err)
		}
	}
}

func TestRedactHidesPasswords(t *testing.T) {
	for raw, want := range map[string]string{
		"postgres://u:secret@localhost:5432/db": "postgres://u:xxxxx@localhost:5432/db",
		"postgres://u:sec ret%zz@h/db":          "postgres://xxxxx@h/db",
		"redshift://analytics/dev":              "redshift://analytics/dev",
	} {
		if got := redact(raw); got != want {
			t.Errorf("redact(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestOpenRedshiftBuildsADataAPIWarehouse(t *testing.T) {
	api := newFake(func([]string) *fakeStatement { return finished() })
	w, err := Open(context.Background(), "redshift://prod-1/warehouse?cluster=true&secret_arn=s&iam_role=r&poll=5ms", Deps{
		AWS:     aws.Config{Region: "eu-west-1"},
		S3:      s3.NewFromConfig(aws.Config{Region: "eu-west-1"}),
		DataAPI: api,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	d, ok := w.(*DataAPI)
	if !ok {
		t.Fatalf("got %T, want *DataAPI", w)
	}
	if d.Name() != "prod-1/warehouse" || d.cfg.IAMRole != "r" || d.cfg.PollInterval != 5*time.Millisecond || d.cfg.Timeout != DefaultTimeout || d.cfg.S3 == nil {
		t.Errorf("config %+v", d.cfg)
	}
	if err := w.Exec(context.Background(), "ANALYZE s.t"); err != nil {
		t.Fatal(err)
	}
	in := api.executes[0]
	if aws.ToString(in.ClusterIdentifier) != "prod-1" || aws.ToString(in.Database) != "warehouse" || aws.ToString(in.SecretArn) != "s" {
		t.Errorf("sent to cluster %q database %q secret %q", aws.ToString(in.ClusterIdentifier), aws.ToString(in.Database), aws.ToString(in.SecretArn))
	}
}

// Without a Data API client in Deps, Open builds the SDK's own; nothing is called.
func TestOpenRedshiftWithTheSDKClient(t *testing.T) {
	w, err := Open(context.Background(), "redshift://analytics/dev", Deps{AWS: aws.Config{Region: "eu-west-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if w.Name() != "analytics/dev" {
		t.Errorf("Name() = %q", w.Name())
	}
}
