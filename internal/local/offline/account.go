package offline

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/local/contract"
	"github.com/snaplake/snaplake/internal/local/eventbus"
	"github.com/snaplake/snaplake/internal/local/iam"
	"github.com/snaplake/snaplake/internal/local/s3iam"
	"github.com/snaplake/snaplake/internal/local/s3server"
)

// Account is the offline AWS account the pipeline runs in: the deployment contract
// (read from the synthesized template), an IAM authority holding each function's and
// service role's policies, and an S3 endpoint that authorizes every request against
// them before it reaches the S3 server.
type Account struct {
	Contract *contract.Contract
	IAM      *iam.Authority
	// Bus is the account's default event bus: the lake bucket's events arrive there
	// when the stack enables them (the Federator's), and capabilities add their
	// deployed rules to it.
	Bus       *eventbus.Bus
	proxy     *s3iam.Proxy
	published atomic.Int64 // SNS message ids
}

// AccountOptions adjust NewAccount.
type AccountOptions struct {
	// Contract defaults to the embedded one (contract.Load).
	Contract *contract.Contract
	// IAM defaults to the contract's policies (NewAuthority); tests pass a copy with
	// a statement removed to prove it is needed.
	IAM *iam.Authority
	Log *slog.Logger
}

// NewAccount starts the authorizing S3 endpoint in front of backend. The lake bucket
// must be created on backend itself (CreateBucket is an administrator's call).
func NewAccount(backend *s3server.Server, opts AccountOptions) (*Account, error) {
	c := opts.Contract
	if c == nil {
		var err error
		if c, err = contract.Load(); err != nil {
			return nil, err
		}
	}
	auth := opts.IAM
	if auth == nil {
		var err error
		if auth, err = NewAuthority(c); err != nil {
			return nil, err
		}
	}
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	// The lake bucket sends its events to EventBridge when the stack says so.
	eventBridge := c.Federate != nil && c.Federate.BucketEventBridge
	proxy, err := s3iam.Start(s3iam.Config{
		Backend:   backend,
		Auth:      auth,
		Buckets:   map[string]s3iam.Bucket{c.Bucket: {KMSKeyArn: c.KMSKeyArn, EventBridge: eventBridge}},
		Partition: "aws",
		Account:   c.Account,
		Region:    c.Region,
		Log:       log.With("component", "s3iam"),
	})
	if err != nil {
		return nil, fmt.Errorf("start the authorizing S3 endpoint: %w", err)
	}
	bus, err := eventbus.New(log.With("component", "eventbus"))
	if err != nil {
		proxy.Stop()
		return nil, err
	}
	proxy.SendEventsTo(func(ctx context.Context, event []byte) {
		if _, err := bus.Publish(ctx, event); err != nil {
			log.Warn("the default bus refused an S3 event", "error", err)
		}
	})
	return &Account{Contract: c, IAM: auth, Bus: bus, proxy: proxy}, nil
}

// NewAuthority holds every principal of the contract: each function (by its
// deploy.Fn* name, session named after the deployed function, as Lambda names it)
// and each service role (by its deploy.Role* name).
func NewAuthority(c *contract.Contract) (*iam.Authority, error) {
	auth := iam.NewAuthority()
	add := func(name, session string, role contract.Role) error {
		var docs [][]byte
		for _, p := range role.Policies {
			docs = append(docs, p)
		}
		pols, err := iam.ParsePolicies(docs...)
		if err != nil {
			return fmt.Errorf("policies of %s (role %s): %w", name, role.Name, err)
		}
		return auth.Add(iam.Principal{Name: name, RoleName: role.Name, RoleID: role.ID, SessionName: session, Account: c.Account, Policies: pols})
	}
	functions, roles := deploy.Functions, deploy.ServiceRoles
	if c.Ingest != nil {
		functions = append(slices.Clone(functions), deploy.IngestFunctions...)
		roles = append(slices.Clone(roles), deploy.IngestServiceRoles...)
	}
	if c.Federate != nil {
		functions = append(slices.Clone(functions), deploy.FederateFunctions...)
		roles = append(slices.Clone(roles), deploy.FederateServiceRoles...)
	}
	if c.Archive != nil {
		functions = append(slices.Clone(functions), deploy.ArchiveFunctions...)
		roles = append(slices.Clone(roles), deploy.ArchiveServiceRoles...)
	}
	for _, name := range functions {
		fn, ok := c.Functions[name]
		if !ok {
			return nil, fmt.Errorf("the contract has no function %s: regenerate it with `make contract`", name)
		}
		if err := add(name, fn.Name, fn.Role); err != nil {
			return nil, err
		}
	}
	for _, name := range roles {
		role, ok := c.Roles[name]
		if !ok {
			return nil, fmt.Errorf("the contract has no role %s: regenerate it with `make contract`", name)
		}
		if err := add(name, name, role); err != nil {
			return nil, err
		}
	}
	return auth, nil
}

// S3 returns an S3 client that acts as principal (a function's or a service role's
// name): every request it makes is authorized against that principal's policies.
func (a *Account) S3(principal string) *s3.Client { return a.proxy.Client(principal) }

// S3Env is the environment that makes a child process act as principal.
func (a *Account) S3Env(principal string) []string { return a.proxy.Env(principal) }

// Close stops the S3 endpoint.
func (a *Account) Close() { a.proxy.Stop() }
