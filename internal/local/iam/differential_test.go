package iam

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/doctor"
	"github.com/snaplake/snaplake/internal/local/contract"
	"github.com/snaplake/snaplake/internal/local/testenv"
)

// The differential IAM test: every request is decided by this package and by
// @cloud-copilot/iam-simulate (pinned in tools/package.json), an IAM simulator
// written independently of it, and the two must agree. The requests are
//   - every line of internal/doctor/permissions.txt, the reviewed list of what the
//     deployed roles do, filled in from the offline contract and decided on the
//     role's policies as synthesized (contract.json);
//   - mutations of each line: another resource (account, region, name, case,
//     parent), a neighbouring action of the same service, changed or missing
//     condition values;
//   - hand-written edge cases (edgeCases).
//
// A disagreement fails the test unless testdata/disagreements.txt lists it with
// the AWS documentation that says who is right; a listed disagreement that no
// longer occurs fails it too, so the list stays true.

const (
	simulatorPackage  = "@cloud-copilot/iam-simulate"
	disagreementsFile = "testdata/disagreements.txt"
)

// diffRequest is one request put to both evaluators.
type diffRequest struct {
	ID        int                 `json:"id"`
	Principal string              `json:"principal"`
	Action    string              `json:"action"`
	Resource  string              `json:"resource"`
	Context   map[string][]string `json:"context"` // as both evaluators see it, identity keys included

	origin   string              // where it comes from, for messages
	mutation bool                // generated from a line: it may be a request AWS would refuse as malformed
	own      map[string][]string // the context before the identity keys were added (the request's key)
}

// key names the request in disagreements.txt: principal, action, resource and
// the request's own condition keys, tab-separated.
func (r diffRequest) key() string {
	return r.Principal + "\t" + r.Action + "\t" + r.Resource + "\t" + canonicalContext(r.own)
}

type simPrincipal struct {
	Arn      string            `json:"arn"`
	Account  string            `json:"account"`
	Policies []json.RawMessage `json:"policies"`
}

type simResult struct {
	ID           int      `json:"id"`
	Decision     string   `json:"decision"`
	WildcardOnly bool     `json:"wildcardOnly"`
	Ignored      []string `json:"ignoredContextKeys"`
	Error        string   `json:"error"`
}

// simDecision maps the simulator's answer to a Decision.
func simDecision(s string) (Decision, bool) {
	switch s {
	case "Allowed":
		return Allow, true
	case "ImplicitlyDenied":
		return ImplicitDeny, true
	case "ExplicitlyDenied":
		return ExplicitDeny, true
	}
	return 0, false
}

// differential collects the principals and requests of one run.
type differential struct {
	t          *testing.T
	principals map[string]Principal
	sim        map[string]simPrincipal
	requests   []diffRequest
	seen       map[string]bool
}

func (d *differential) addPrincipal(t *testing.T, name string, p Principal, docs []json.RawMessage) {
	t.Helper()
	if _, dup := d.principals[name]; dup {
		t.Fatalf("principal %s added twice", name)
	}
	d.principals[name] = p
	d.sim[name] = simPrincipal{Arn: p.ARN(), Account: p.Account, Policies: docs}
}

// add queues a request unless an identical one is queued already.
func (d *differential) add(principal, action, resource string, ctx map[string][]string, origin string, mutation bool) {
	p, ok := d.principals[principal]
	if !ok {
		d.t.Fatalf("%s: unknown principal %s", origin, principal)
	}
	r := diffRequest{Principal: principal, Action: action, Resource: resource, own: ctx, origin: origin, mutation: mutation}
	if d.seen[r.key()] {
		return
	}
	d.seen[r.key()] = true
	r.ID = len(d.requests)
	r.Context = p.withIdentityKeys(Request{Action: action, Resource: resource, Context: ctx}).Context
	d.requests = append(d.requests, r)
}

// decide is this package's answer, exactly as Authority.Decide reaches it.
func (d *differential) decide(r diffRequest, drop []string) Decision {
	ctx := map[string][]string{}
	for k, v := range r.Context {
		if !slices.ContainsFunc(drop, func(x string) bool { return strings.EqualFold(x, k) }) {
			ctx[k] = v
		}
	}
	return Evaluate(d.principals[r.Principal].Policies, Request{Action: r.Action, Resource: r.Resource, Context: ctx})
}

func TestDifferentialAgainstIAMSimulate(t *testing.T) {
	testenv.NeedsNode(t)
	nm := nodeModules(t, simulatorPackage)
	if pinned, installed := pinnedVersion(t, nm, simulatorPackage), packageVersion(t, filepath.Join(nm, simulatorPackage)); pinned != installed {
		t.Fatalf("tools/package.json pins %s %s but %s is installed: run `make deps`", simulatorPackage, pinned, installed)
	}
	c, err := contract.Load()
	if err != nil {
		t.Fatal(err)
	}
	d := &differential{t: t, principals: map[string]Principal{}, sim: map[string]simPrincipal{}, seen: map[string]bool{}}
	addContractPrincipals(t, d, c)
	lines := addPermissionLines(t, d, c)
	mutations := len(d.requests)
	addMutations(t, d, nm)
	mutations = len(d.requests) - mutations
	edges := len(d.requests)
	addEdgeCases(t, d, c.Account)
	edges = len(d.requests) - edges

	results := runSimulator(t, nm, d)
	listed := readDisagreements(t)
	used := map[string]bool{}
	var agree, listedHits, malformed int
	byDecision := map[Decision]int{}
	var failures []string
	for _, r := range d.requests {
		res, ok := results[r.ID]
		if !ok {
			t.Fatalf("the simulator gave no answer for request %d (%s)", r.ID, r.origin)
		}
		// The table of actions without resource types and the simulator's copy of
		// the Reference must say the same (both come from the pinned iam-data).
		if res.Error == "" && res.WildcardOnly != inReference(r.Action) {
			failures = append(failures, fmt.Sprintf("%s: %s: the simulator says wildcard-only=%v, %s says %v (run `make iam-data`)", r.origin, r.Action, res.WildcardOnly, wildcardOnlyFile, inReference(r.Action)))
		}
		if res.Error != "" {
			if r.mutation {
				// A mutation may name a resource the action does not take (a
				// neighbouring action of another resource type): AWS would not
				// authorize such a call either way, so there is nothing to compare.
				malformed++
				continue
			}
			failures = append(failures, fmt.Sprintf("%s: the simulator cannot answer %s on %s: %s", r.origin, r.Action, r.Resource, res.Error))
			continue
		}
		var drop []string
		if len(res.Ignored) > 0 {
			if !r.mutation {
				failures = append(failures, fmt.Sprintf("%s: the Reference lists no condition key %s for %s, so AWS never sends it: the request is not one AWS makes", r.origin, strings.Join(res.Ignored, ", "), r.Action))
				continue
			}
			// A neighbouring action may not take the line's condition keys; AWS
			// would not send them, so neither evaluator gets them.
			drop = res.Ignored
		}
		theirs, ok := simDecision(res.Decision)
		if !ok {
			t.Fatalf("request %d: unknown simulator decision %q", r.ID, res.Decision)
		}
		ours := d.decide(r, drop)
		if ours == theirs {
			agree++
			byDecision[ours]++
			if _, isListed := listed[r.key()]; isListed {
				used[r.key()] = true
				failures = append(failures, fmt.Sprintf("%s: %s lists %q as a disagreement, but both now say %v: remove the line", r.origin, disagreementsFile, r.key(), ours))
			}
			continue
		}
		if l, isListed := listed[r.key()]; isListed && l.ours == ours.String() && l.theirs == theirs.String() {
			used[r.key()] = true
			listedHits++
			continue
		}
		failures = append(failures, fmt.Sprintf("%s: %s on %s with %s: internal/local/iam says %v, %s says %v\n    to accept it, add to %s, with the AWS doc URL that shows who is right:\n    %s\t%v\t%v\t<doc URL>\t<why>",
			r.origin, r.Action, r.Resource, canonicalContext(r.own), ours, simulatorPackage, theirs, disagreementsFile, r.key(), ours, theirs))
	}
	for k, l := range listed {
		if !used[k] {
			failures = append(failures, fmt.Sprintf("%s line %d: %q is no request of this test any more: remove the line", disagreementsFile, l.line, k))
		}
	}
	for _, f := range failures {
		t.Error(f)
	}
	compared := len(d.requests) - malformed
	summary := fmt.Sprintf("iam differential: %d requests compared with %s (%d permissions.txt lines, %d mutations, %d edge cases; %d mutations not valid requests for AWS), %d agreements (%d Allow, %d ImplicitDeny, %d ExplicitDeny), %d listed disagreements, %d unexplained",
		compared, simulatorPackage, lines, mutations, edges, malformed, agree, byDecision[Allow], byDecision[ImplicitDeny], byDecision[ExplicitDeny], listedHits, len(failures))
	fmt.Println(summary)
}

// addContractPrincipals adds every function's role and every service role of the
// contract under its deploy name, as offline.NewAuthority does.
func addContractPrincipals(t *testing.T, d *differential, c *contract.Contract) {
	add := func(name, session string, role contract.Role) {
		var docs [][]byte
		for _, p := range role.Policies {
			docs = append(docs, p)
		}
		pols, err := ParsePolicies(docs...)
		if err != nil {
			t.Fatalf("policies of %s: %v", name, err)
		}
		d.addPrincipal(t, name, Principal{Name: name, RoleName: role.Name, SessionName: session, Account: c.Account, Policies: pols}, role.Policies)
	}
	for _, name := range sortedKeys(c.Functions) {
		add(name, c.Functions[name].Name, c.Functions[name].Role)
	}
	for _, name := range sortedKeys(c.Roles) {
		add(name, name, c.Roles[name])
	}
}

// contractValues fills permissions.txt's placeholders from the offline contract,
// as snaplake doctor fills them from the stack's outputs.
func contractValues(t *testing.T, c *contract.Contract) doctor.Values {
	v := doctor.Values{
		Account: c.Account, Region: c.Region, Bucket: c.Bucket, KMSKey: c.KMSKeyArn,
		StateMachine: c.StateMachineArn, Topic: c.TopicArn,
		Roles: map[string]string{}, Functions: map[string]string{},
	}
	for name, fn := range c.Functions {
		v.Roles[name], v.Functions[name] = fn.Role.Arn, fn.Arn
	}
	for name, r := range c.Roles {
		v.Roles[name] = r.Arn
	}
	strs := func(key string) []string {
		list, ok := contract.Context()[key].([]any)
		if !ok {
			t.Fatalf("the offline context has no list %s", key)
		}
		var out []string
		for _, x := range list {
			s, ok := x.(string)
			if !ok {
				t.Fatalf("the offline context's %s holds %v, not a string", key, x)
			}
			out = append(out, s)
		}
		return out
	}
	v.Instances, v.Databases = strs("snaplake:dbInstanceIds"), strs("snaplake:databases")
	if c.Ingest != nil {
		v.IngestStateMachine, v.IngestDatabase = c.Ingest.StateMachineArn, c.Ingest.Database
		v.IngestSecret = c.Functions[deploy.FnReconfigure].Environment[deploy.EnvSecretArn]
	}
	if c.Archive != nil {
		v.ArchiveStateMachine, v.ArchiveDatabases = c.Archive.StateMachineArn, c.Archive.Databases
		v.ArchiveSecret = c.Functions[deploy.FnArchiveTable].Environment[deploy.EnvSecretArn]
	}
	if c.Federate != nil {
		v.FederatePublishStateMachine, v.FederateSubscribeStateMachine = c.Federate.PublishStateMachineArn, c.Federate.SubscribeStateMachineArn
		v.FederateItemStateMachines = map[string]string{}
		for arn := range c.Federate.ItemStateMachines {
			for _, fn := range deploy.FederateFunctions {
				if strings.HasSuffix(arn, "-"+fn+"-item") {
					v.FederateItemStateMachines[fn] = arn
				}
			}
		}
	}
	v.RoleIDs = map[string]string{}
	for name, fn := range c.Functions {
		v.RoleIDs[name] = fn.Role.ID
	}
	for name, r := range c.Roles {
		v.RoleIDs[name] = r.ID
	}
	return v
}

// warehouses are the Federator's warehouses of the offline context, by the kind
// {warehouse:<kind>} names (no stack output names them, so doctor cannot).
func warehouses(t *testing.T) map[string]string {
	out := map[string]string{}
	fed, _ := contract.Context()["snaplake:federate"].(map[string]any)
	list, _ := fed["warehouses"].([]any)
	for _, w := range list {
		arn, _ := w.(map[string]any)["arn"].(string)
		switch {
		case strings.Contains(arn, ":workgroup/"):
			out["workgroup"] = arn
		case strings.Contains(arn, ":cluster:"):
			out["cluster"] = arn
		}
	}
	return out
}

// addPermissionLines queues every expanded line of permissions.txt and returns
// how many requests they make.
func addPermissionLines(t *testing.T, d *differential, c *contract.Contract) int {
	perms, err := doctor.Permissions()
	if err != nil {
		t.Fatal(err)
	}
	values := contractValues(t, c)
	wh := warehouses(t)
	before := len(d.requests)
	for _, p := range perms {
		for kind, arn := range wh {
			p.Resource = strings.ReplaceAll(p.Resource, "{warehouse:"+kind+"}", arn)
			p.Context = strings.ReplaceAll(p.Context, "{warehouse:"+kind+"}", arn)
		}
		grants, err := p.Expand(values)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range grants {
			d.add(g.Principal, g.Action, g.Resource, grantContext(g), fmt.Sprintf("permissions.txt line %d", g.Line), false)
		}
	}
	if len(d.requests) == before {
		t.Fatal("permissions.txt made no request")
	}
	return len(d.requests) - before
}

func grantContext(g doctor.Grant) map[string][]string {
	if len(g.Context) == 0 {
		return nil
	}
	ctx := map[string][]string{}
	for _, c := range g.Context {
		ctx[c.Key] = slices.Clone(c.Values)
	}
	return ctx
}

// addMutations queues, for every permissions.txt request, requests that differ
// in one part.
func addMutations(t *testing.T, d *differential, nodeModules string) {
	neighbours := actionNeighbours(t, filepath.Join(nodeModules, iamDataPackage, "data", "actions"))
	lines := slices.Clone(d.requests)
	for _, r := range lines {
		origin := func(what string) string { return r.origin + ", " + what }
		for what, res := range resourceMutations(r.Resource) {
			d.add(r.Principal, r.Action, res, r.own, origin(what), true)
		}
		for _, a := range neighbours(r.Action) {
			d.add(r.Principal, a, r.Resource, r.own, origin("neighbouring action "+a), true)
		}
		for _, k := range sortedKeys(r.own) {
			changed := cloneContext(r.own)
			changed[k] = []string{otherValue(r.own[k][0])}
			d.add(r.Principal, r.Action, r.Resource, changed, origin("other "+k), true)
			absent := cloneContext(r.own)
			delete(absent, k)
			d.add(r.Principal, r.Action, r.Resource, absent, origin("no "+k), true)
		}
	}
}

func cloneContext(ctx map[string][]string) map[string][]string {
	out := make(map[string][]string, len(ctx))
	for k, v := range ctx {
		out[k] = slices.Clone(v)
	}
	return out
}

// otherValue is a different value of the same kind: a boolean flipped, another
// service principal, another key prefix.
func otherValue(v string) string {
	switch {
	case strings.EqualFold(v, "true"):
		return "false"
	case strings.EqualFold(v, "false"):
		return "true"
	case strings.HasSuffix(v, ".amazonaws.com"):
		if v == "lambda.amazonaws.com" {
			return "glue.amazonaws.com"
		}
		return "lambda.amazonaws.com"
	}
	return "other/" + v
}

// resourceMutations are the resource changed in one way each, by description.
func resourceMutations(res string) map[string]string {
	out := map[string]string{}
	if res == "*" || !strings.HasPrefix(res, "arn:") {
		return out
	}
	parts := strings.SplitN(res, ":", 6)
	if len(parts) < 6 {
		return out
	}
	set := func(what string, i int, v string) {
		q := slices.Clone(parts)
		q[i] = v
		if s := strings.Join(q, ":"); s != res {
			out[what] = s
		}
	}
	if parts[4] != "" {
		set("another account", 4, "111111111111")
	}
	if parts[3] != "" {
		set("another region", 3, "eu-west-1")
	}
	set("another name", 5, parts[5]+"-other")
	// ARNs are case-sensitive in their resource part: upper-case its last name.
	last := parts[5][strings.LastIndexAny(parts[5], "/:")+1:]
	if up := strings.ToUpper(last); up != last {
		set("upper-case name", 5, parts[5][:len(parts[5])-len(last)]+up)
	}
	if i := strings.LastIndex(parts[5], "/"); i > 0 {
		set("parent path", 5, parts[5][:i])
		set("deeper path", 5, parts[5]+"/deeper")
	}
	return out
}

// actionNeighbours returns, for an action, the actions next to it (in name order)
// among those of its service that take the same resource types, read from the
// pinned Service Authorization Reference.
func actionNeighbours(t *testing.T, actionsDir string) func(string) []string {
	type action struct {
		Name          string `json:"name"`
		ResourceTypes []struct {
			Name string `json:"name"`
		} `json:"resourceTypes"`
	}
	services := map[string][]action{}
	return func(full string) []string {
		svc, name, _ := strings.Cut(full, ":")
		acts, ok := services[svc]
		if !ok {
			b, err := os.ReadFile(filepath.Join(actionsDir, svc+".json"))
			if err != nil {
				t.Fatalf("the Reference has no service %s: %v", svc, err)
			}
			var byKey map[string]action
			if err := json.Unmarshal(b, &byKey); err != nil {
				t.Fatal(err)
			}
			for _, k := range sortedKeys(byKey) {
				acts = append(acts, byKey[k])
			}
			services[svc] = acts
		}
		types := func(a action) string {
			var n []string
			for _, r := range a.ResourceTypes {
				n = append(n, r.Name)
			}
			slices.Sort(n)
			return strings.Join(n, ",")
		}
		i := slices.IndexFunc(acts, func(a action) bool { return strings.EqualFold(a.Name, name) })
		if i < 0 {
			t.Fatalf("the Reference has no action %s", full)
		}
		var out []string
		want := types(acts[i])
		for _, step := range []int{-1, 1} {
			for j := i + step; j >= 0 && j < len(acts); j += step {
				if types(acts[j]) == want {
					out = append(out, svc+":"+acts[j].Name)
					break
				}
			}
		}
		return out
	}
}

// disagreement is one reviewed line of disagreements.txt.
type disagreement struct {
	line          int
	ours, theirs  string
	url, decision string
}

// readDisagreements reads testdata/disagreements.txt:
// principal TAB action TAB resource TAB context TAB ours TAB theirs TAB doc URL TAB why.
func readDisagreements(t *testing.T) map[string]disagreement {
	f, err := os.Open(disagreementsFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]disagreement{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, "\t")
		if len(fields) != 8 {
			t.Fatalf("%s line %d: %d tab-separated fields, want 8 (principal, action, resource, context, ours, simulator, doc URL, why)", disagreementsFile, n, len(fields))
		}
		dis := disagreement{line: n, ours: fields[4], theirs: fields[5], url: fields[6], decision: fields[7]}
		if !strings.HasPrefix(dis.url, "https://docs.aws.amazon.com/") || strings.TrimSpace(dis.decision) == "" {
			t.Fatalf("%s line %d: each disagreement needs the AWS documentation URL that shows who is right, and why", disagreementsFile, n)
		}
		out[strings.Join(fields[:4], "\t")] = dis
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// runSimulator answers every request in one node process.
func runSimulator(t *testing.T, nodeModules string, d *differential) map[int]simResult {
	testenv.NeedsNode(t)
	in, err := json.Marshal(map[string]any{"nodeModules": nodeModules, "principals": d.sim, "requests": d.requests})
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH (Node.js 20 or later runs %s): %v", simulatorPackage, err)
	}
	cmd := exec.Command(node, "testdata/simulate.cjs")
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("testdata/simulate.cjs: %v\n%s", err, stderr.String())
	}
	var out struct {
		Results []simResult `json:"results"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("testdata/simulate.cjs printed no result: %v\n%s", err, stderr.String())
	}
	t.Logf("%s answered %d requests in %v", simulatorPackage, len(out.Results), time.Since(start).Round(time.Millisecond))
	byID := make(map[int]simResult, len(out.Results))
	for _, r := range out.Results {
		byID[r.ID] = r
	}
	return byID
}
