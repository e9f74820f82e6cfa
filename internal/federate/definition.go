package federate

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/snaplake/snaplake/internal/federate/redshift"
)

// Definition changes. A version's manifest carries the table's definition (its
// columns in order, each with its normalized type and nullability). A subscriber
// whose table differs from the version it loads plans the change:
//
//   - additive, applied in place: new nullable columns after the existing ones
//     (ALTER TABLE ... ADD COLUMN, one per statement as Redshift requires, inside the
//     swap transaction), and VARCHARs made longer (ALTER TABLE ... ALTER COLUMN ...
//     TYPE, the one type change Redshift makes, and only outside a transaction
//     block: each runs alone, just before the swap);
//   - anything else (a column dropped, renamed, moved, retyped or narrowed,
//     nullability changed, a NOT NULL column added): the table is rebuilt from the
//     newest full version, or, when the config says refuse, fails with the
//     differences (DriftError).
//
// Redshift's rules: "You can add only one column in each ALTER TABLE statement";
// ALTER COLUMN ... TYPE is "a clause that changes the size of a column defined as a
// VARCHAR data type" and "You can't alter columns within a transaction block (BEGIN
// ... END)" (Redshift DG "ALTER TABLE"). Redshift has no ALTER COLUMN SET/DROP NOT
// NULL, hence nullability changes rebuild.

// DefinitionPlan is how a subscriber's table becomes a version's definition.
type DefinitionPlan struct {
	// Widen are the VARCHAR columns to lengthen, with their published type.
	Widen []redshift.Column
	// Add are the nullable columns to add at the end, in order.
	Add []redshift.Column
	// Other are the changes that cannot be made in place, as Diff words them; any
	// means a rebuild (or a refusal).
	Other []string
	// Create says the subscriber has no such table: the staging table, made of the
	// version's definition, becomes the table in the swap (renamed), so that the
	// rows are written once, and no empty table stands in its place meanwhile.
	Create bool `json:",omitempty"`
}

// Words say what the plan does to a subscriber's table, for its result.
func (p DefinitionPlan) Words() []string {
	if p.Create {
		return []string{"table created"}
	}
	if !p.InPlace() {
		return []string{"table rebuilt: " + strings.Join(p.Other, "; ")}
	}
	var out []string
	for _, c := range p.Widen {
		out = append(out, fmt.Sprintf("column %s widened to %s", c.Name, c.Type))
	}
	for _, c := range p.Add {
		out = append(out, fmt.Sprintf("column %s %s added", c.Name, c.Type))
	}
	return out
}

// Changed says the table differs from the definition.
func (p DefinitionPlan) Changed() bool { return len(p.Widen)+len(p.Add)+len(p.Other) > 0 }

// InPlace says the table can take the definition without a rebuild.
func (p DefinitionPlan) InPlace() bool { return len(p.Other) == 0 }

// maxAdded bounds the columns added inside one swap: the swap is one
// BatchExecuteStatement of at most 40 statements, 9 of them its own.
const maxAdded = 30

// PlanDefinition compares a subscriber's columns (here) with a version's.
func PlanDefinition(here, published []redshift.Column) DefinitionPlan {
	var p DefinitionPlan
	for i, h := range here {
		if i >= len(published) || !strings.EqualFold(h.Name, published[i].Name) {
			p.Other = Diff(here, published)
			return p
		}
		pub := published[i]
		switch {
		case h.Type == pub.Type:
		case widens(h.Type, pub.Type):
			p.Widen = append(p.Widen, pub)
		default:
			p.Other = append(p.Other, fmt.Sprintf("column %s is %s here, %s published", pub.Name, h.Type, pub.Type))
		}
		if h.Nullable != pub.Nullable {
			p.Other = append(p.Other, fmt.Sprintf("column %s is %s here, %s published", pub.Name, nullability(h.Nullable), nullability(pub.Nullable)))
		}
	}
	for _, pub := range published[min(len(here), len(published)):] {
		if !pub.Nullable {
			p.Other = append(p.Other, fmt.Sprintf("column %s %s NOT NULL is missing here (Redshift adds no NOT NULL column without a default)", pub.Name, pub.Type))
			continue
		}
		p.Add = append(p.Add, pub)
	}
	if len(p.Add) > maxAdded {
		p.Other = append(p.Other, fmt.Sprintf("%d columns are missing here, more than the %d one swap adds", len(p.Add), maxAdded))
	}
	return p
}

func nullability(nullable bool) string {
	if nullable {
		return "nullable"
	}
	return "NOT NULL"
}

var varcharRE = regexp.MustCompile(`^character varying\(([0-9]+)\)$`)

// widens says a column of type from can become to by ALTER COLUMN ... TYPE in
// Redshift: both VARCHARs, to the longer.
func widens(from, to string) bool {
	f, t := varcharRE.FindStringSubmatch(from), varcharRE.FindStringSubmatch(to)
	if f == nil || t == nil {
		return false
	}
	fn, err1 := strconv.Atoi(f[1])
	tn, err2 := strconv.Atoi(t[1])
	return err1 == nil && err2 == nil && tn > fn
}

// sameDefinition says two definitions are the same table: names, types and
// nullability, in order.
func sameDefinition(a, b []redshift.Column) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(a[i].Name, b[i].Name) || a[i].Type != b[i].Type || a[i].Nullable != b[i].Nullable {
			return false
		}
	}
	return true
}
