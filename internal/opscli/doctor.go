package opscli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"

	"github.com/spf13/cobra"

	"github.com/snaplake/snaplake/internal/aws/awsconfig"
	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/doctor"
	"github.com/snaplake/snaplake/internal/federate"
	"github.com/snaplake/snaplake/internal/federate/redshift"
)

const doctorUsage = `Usage: snaplake doctor [--stack NAME] [--max-snapshot-age 26h]

Checks a deployed snaplake stack in the account and region of the AWS configuration
(AWS_PROFILE, AWS_REGION): the stack's outputs, its EventBridge rules, each source
instance's automated backups and newest snapshot, that IAM's policy simulator allows
every call the pipeline makes to the role making it, and the KMS key; when the stack
deploys the config-driven ingestion, its schedules and its roles' calls too. One line
per check, PASS, WARN (works, but costs or surprises: says how to avoid it) or FAIL with
the fix; exit status 1 when any check fails.

The caller needs read access: cloudformation:DescribeStacks, events:DescribeRule,
rds:DescribeDBInstances, rds:DescribeDBSnapshots, iam:SimulatePrincipalPolicy on the
stack's roles, kms:DescribeKey and kms:GetKeyPolicy on its key, and with the
ingestion scheduler:GetSchedule on its schedules. With --federate-config, the
Redshift Data API on each warehouse the config names (and its secret, or
redshift:GetClusterCredentials for its db_user), to ask the catalog whether the
functions' database users hold the privileges the Federator needs, and each warehouse's
Region (its URL's region=, else the stack's) against the lake bucket's: another Region
works (UNLOAD and COPY say REGION) but is billed for inter-Region transfer (WARN).
`

// Doctor is `snaplake doctor`: the checks of package doctor against the real account.
func Doctor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return run(ctx, NewDoctorCommand(), args, stdout, stderr)
}

// NewDoctorCommand is `snaplake doctor`.
func NewDoctorCommand() *cobra.Command {
	var cfg doctor.Config
	var federateConfig string
	c := &cobra.Command{
		Use:   "doctor",
		Short: "check a deployed stack in a real account",
		Long:  doctorUsage,
		Args:  NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			switch {
			case cfg.Stack == "":
				return UsageError(c, "--stack must not be empty")
			case cfg.MaxSnapshotAge <= 0:
				return UsageError(c, "--max-snapshot-age must be positive, got %s", cfg.MaxSnapshotAge)
			}
			return runDoctor(c.Context(), cfg, federateConfig, c.OutOrStdout())
		},
	}
	fs := c.Flags()
	fs.StringVar(&cfg.Stack, "stack", doctor.DefaultStack, "CloudFormation stack name of the deployment")
	fs.DurationVar(&cfg.MaxSnapshotAge, "max-snapshot-age", doctor.DefaultMaxSnapshotAge, "oldest acceptable newest automated snapshot")
	fs.StringVar(&federateConfig, "federate-config", "", "snaplake.yaml with the federate section: check each warehouse's database privileges through the Data API")
	return c
}

func runDoctor(ctx context.Context, cfg doctor.Config, federateConfig string, stdout io.Writer) error {
	cfg.Now = time.Now

	aws, err := awsconfig.Load(ctx)
	if err != nil {
		return err
	}
	clients := doctor.Clients{
		CloudFormation: cloudformation.NewFromConfig(aws),
		EventBridge:    eventbridge.NewFromConfig(aws),
		RDS:            rds.NewFromConfig(aws),
		IAM:            awsiam.NewFromConfig(aws),
		KMS:            kms.NewFromConfig(aws),
		Scheduler:      scheduler.NewFromConfig(aws),
		LakeFormation:  lakeformation.NewFromConfig(aws),
	}
	if federateConfig != "" {
		signIns, closeAll, err := federateSignIns(ctx, federateConfig, aws)
		if err != nil {
			return err
		}
		defer closeAll()
		cfg.FederateSignIns = signIns
	}
	rep, err := doctor.Run(ctx, cfg, clients, stdout)
	if err != nil {
		return err
	}
	if n := rep.Failed(); n > 0 {
		return fmt.Errorf("%d of %d checks failed", n, len(rep.Results))
	}
	if n := rep.Warned(); n > 0 {
		_, err = fmt.Fprintf(stdout, "all %d checks passed, %d with a warning\n", len(rep.Results), n)
		return err
	}
	_, err = fmt.Fprintf(stdout, "all %d checks passed\n", len(rep.Results))
	return err
}

// federateSignIns opens the publisher and each subscriber of the config's federate
// section with the caller's credentials, signed in as each URL says: with a secret
// or db_user, the same database user as the functions; without, the functions are
// IAMR:<role name> (the stack output names it) and the checks ask about that user.
func federateSignIns(ctx context.Context, path string, cfg aws.Config) ([]doctor.FederateSignIn, func(), error) {
	fc, err := config.LoadSection[federate.Config](path, deploy.SectionFederate)
	if err != nil {
		return nil, nil, err
	}
	c := *fc
	var out []doctor.FederateSignIn
	var opened []redshift.Warehouse
	closeAll := func() {
		for _, w := range opened {
			w.Close()
		}
	}
	add := func(subject, function, url string, needs []federate.Need) error {
		if url == "" {
			return fmt.Errorf("%s: %s has no warehouse URL", path, subject)
		}
		wh, err := redshift.Open(ctx, url, redshift.Deps{AWS: cfg})
		if err != nil {
			return fmt.Errorf("%s: %w", subject, err)
		}
		opened = append(opened, wh)
		asRole := false
		if strings.HasPrefix(url, "redshift://") {
			dc, _, err := redshift.ParseDataAPIURL(url)
			asRole = err == nil && dc.SecretArn == "" && dc.DbUser == ""
		}
		out = append(out, doctor.FederateSignIn{Subject: subject, Function: function, Warehouse: wh, URL: url, AsIAMRole: asRole, Needs: needs})
		return nil
	}
	if err := add("publisher", deploy.FnPublish, c.Publisher, federate.PublisherNeeds(c)); err != nil {
		closeAll()
		return nil, nil, err
	}
	for _, s := range c.Subscribers {
		if err := add("subscriber "+s.Name, deploy.FnSubscribe, s.Redshift, federate.SubscriberNeeds(c, s)); err != nil {
			closeAll()
			return nil, nil, err
		}
	}
	return out, closeAll, nil
}
