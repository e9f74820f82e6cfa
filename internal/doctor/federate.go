package doctor

import (
	"fmt"
	"slices"
	"strings"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/federate/redshift"
)

// checkFederate: one line says whether the stack deploys the Federator. When it
// does not, its principals' lines of permissions.txt are not simulated (see
// checkPermissions). When it does, the lines naming its warehouses
// ({warehouse:workgroup}, {warehouse:cluster}: the Data API calls of publish and
// subscribe) are not simulated either: the warehouses are the operator's, named in
// the snaplake:federate context section and in no stack output; the line says so.
func (r *run) checkFederate(st *stack) {
	count := func(keep func(Permission) bool) (lines int, principals []string) {
		for _, p := range r.cfg.Permissions {
			if federatePrincipal(p.Principal) && keep(p) {
				lines++
				if !slices.Contains(principals, p.Principal) {
					principals = append(principals, p.Principal)
				}
			}
		}
		return lines, principals
	}
	if !st.federate {
		detail := "not deployed (the stack has no FederateRoleArns output; the snaplake:federate context section deploys it)"
		if lines, principals := count(func(Permission) bool { return true }); lines > 0 {
			detail += fmt.Sprintf(": the %d lines of permissions.txt for its %d roles are not checked", lines, len(principals))
		}
		r.pass("federator", st.name, detail)
		return
	}
	detail := "deployed"
	if lines, principals := count(Permission.namesWarehouse); lines > 0 {
		detail += fmt.Sprintf("; the %d lines of permissions.txt naming its warehouses (Data API calls of %s) are not simulated: no stack output names the warehouses' ARNs, check that the snaplake:federate context section names the warehouses the functions must reach",
			lines, strings.Join(principals, ", "))
	}
	r.pass("federator", st.name, detail)
	r.checkFederateRegions(st)
}

// checkFederateRegions reports, for each warehouse of the config (--federate-config),
// its Region against the lake bucket's (the stack's). Another Region works: UNLOAD
// and COPY name the bucket's Region (REGION), which is what lets a warehouse
// elsewhere reach it. But "If your cluster and your data source are in different AWS
// Regions, you incur data transfer costs. You also have higher latency." (Redshift DG
// "Load fails"): every version published or loaded crosses Regions. A warehouse's
// Region is its redshift:// URL's region=, else the functions' own Region (the Data
// API client's default), the stack's. Nothing is called: the URL says it.
// PostgreSQL stand-ins (postgres://) have no Region and get no line.
func (r *run) checkFederateRegions(st *stack) {
	bucketRegion := st.values.Region
	if bucketRegion == "" {
		return // the stack line already failed on its id
	}
	for _, s := range r.cfg.FederateSignIns {
		if !strings.HasPrefix(s.URL, "redshift://") {
			continue
		}
		_, region, err := redshift.ParseDataAPIURL(s.URL)
		if err != nil {
			r.fail("federator", s.Subject, fmt.Sprintf("cannot read the warehouse's Region from its URL: %v", err), "correct the warehouse URL in the config")
			continue
		}
		if region == "" || region == bucketRegion {
			r.pass("federator", s.Subject, fmt.Sprintf("warehouse in %s, the lake bucket's Region: UNLOAD and COPY stay in the Region", bucketRegion))
			continue
		}
		what := "COPY reads"
		if s.Function == deploy.FnPublish {
			what = "UNLOAD writes"
		}
		r.warn("federator", s.Subject,
			fmt.Sprintf("warehouse in %s, the lake bucket in %s: it works (UNLOAD and COPY say REGION '%s'), but every version its %s crosses Regions: inter-Region data transfer is billed per GB, and latency is higher",
				region, bucketRegion, bucketRegion, what),
			"use a warehouse in "+bucketRegion+", or a snaplake stack in "+region+" for that warehouse")
	}
}
