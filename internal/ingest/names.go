package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// NormalizeName is the name Glue and Athena can use for a source table (or database):
// lower case; every character other than a-z, 0-9 and _ becomes one _; a name that
// does not then start with a letter gets the prefix "t_" (a leading digit is refused
// by Athena's DDL, and a leading _ would hide the table's folder from Glue and
// Athena, which skip folders starting with _). "Order-Items" -> "order_items",
// "2024_sales" -> "t_2024_sales", "café" -> "caf_". Reserved words stay as they are
// ("order", "select"): Glue accepts them, and Athena queries quote them ("order").
func NormalizeName(source string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(source) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	n := b.String()
	if n == "" || n[0] < 'a' || n[0] > 'z' {
		n = "t_" + n
	}
	return n
}

// nameHash is the stable suffix that tells apart sources normalized to one name.
func nameHash(source string, n int) string {
	sum := sha256.Sum256([]byte(source))
	return hex.EncodeToString(sum[:])[:n]
}

// LakeNames maps each source table to its lake table name. A name that normalizes
// to itself or to a name no other table has is just normalized. When several
// sources share a normalized name (customer-address and customer_address, Customer
// and customer), a source already equal to it keeps it and every other gets
// "_<8 hex digits of SHA-256 of the source name>": customer_address_1b4f0e98.
//
// kept holds the names the lake already uses (from State): each is kept while its
// source exists, and takes precedence, so a table's folder never changes when
// another table appears; a new colliding table gets the suffix instead.
func LakeNames(sources []string, kept map[string]string) (map[string]string, error) {
	sources = slices.Sorted(slices.Values(sources))
	out := make(map[string]string, len(sources))
	owner := map[string]string{} // lake name -> source
	for _, s := range sources {
		k, ok := kept[s]
		if !ok || k == "" {
			continue
		}
		if prev, taken := owner[k]; taken {
			return nil, fmt.Errorf("the lake state gives tables %q and %q the same lake name %q: correct the state", prev, s, k)
		}
		out[s], owner[k] = k, s
	}
	groups := map[string][]string{}
	for _, s := range sources {
		if _, done := out[s]; !done {
			n := NormalizeName(s)
			groups[n] = append(groups[n], s)
		}
	}
	// Plain names first, so that a suffixed name can be checked against all of them.
	var suffixed []string
	for _, n := range slices.Sorted(maps.Keys(groups)) {
		members := groups[n]
		_, taken := owner[n]
		for _, s := range members {
			if !taken && (len(members) == 1 || s == n) {
				out[s], owner[n] = n, s
			} else {
				suffixed = append(suffixed, s)
			}
		}
	}
	for _, s := range suffixed {
		n := NormalizeName(s)
		name := n + "_" + nameHash(s, 8)
		if _, taken := owner[name]; taken {
			name = n + "_" + nameHash(s, 16)
		}
		if prev, taken := owner[name]; taken {
			return nil, fmt.Errorf("tables %q and %q both map to lake name %q: set one of them a lake name in the state", prev, s, name)
		}
		out[s], owner[name] = name, s
	}
	return out, nil
}
