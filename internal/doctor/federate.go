package doctor

import (
	"fmt"
	"slices"
	"strings"
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
}
