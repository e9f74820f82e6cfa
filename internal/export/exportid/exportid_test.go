package exportid_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/export/exportid"
)

// instance63 is the longest DB instance identifier RDS allows.
var instance63 = "a" + strings.Repeat("b", 61) + "z"

func hash8(snapshotID string) string {
	sum := sha256.Sum256([]byte(snapshotID))
	return hex.EncodeToString(sum[:])[:8]
}

// The wanted values are literal on purpose: an export id names S3 folders and must not
// drift between releases, so a change in the derivation has to show up here.
func TestFromSnapshot(t *testing.T) {
	tests := []struct {
		name, snapshot, want string
	}{
		{"automated", "rds:warehouse-prod-2026-11-20-03-10", "warehouse-prod-2026-11-20-03-10"},
		{"manual", "warehouse-prod-before-migration-2026-11-19", "warehouse-prod-before-migration-2026-11-19"},
		{"aurora cluster automated", "rds:aurora-cluster-2026-11-20-03-10", "aurora-cluster-2026-11-20-03-10"},
		{"upper case is the same snapshot", "RDS:Warehouse-Prod-2026-11-20-03-10", "warehouse-prod-2026-11-20-03-10"},
		{"63-char instance keeps head and date", "rds:" + instance63 + "-2026-11-20-03-10",
			"a" + strings.Repeat("b", 33) + "-2026-11-20-03-10-c37c8690"},
		{"leading digit", "rds:1warehouse-2026-11-20-03-10", "s-1warehouse-2026-11-20-03-10-58294ec7"},
		{"date only", "2026-11-20-03-10", "s-2026-11-20-03-10-3328cba1"},
		{"underscores dots colons", "rds:ware_house.prod:x-2026-11-20-03-10", "ware-house-prod-x-2026-11-20-03-10-e4c59c6f"},
		{"unicode", "rds:entrepôt-2026-11-20-03-10", "entrep-t-2026-11-20-03-10-d9adbc64"},
		{"hyphen runs and ends", "rds:--a--b--", "a-b-eafee655"},
		{"exactly 60 kept", "rds:" + strings.Repeat("a", 60), strings.Repeat("a", 60)},
		{"61 shortened", "rds:" + strings.Repeat("a", 61), strings.Repeat("a", 51) + "-54afd920"},
		{"exactly 60 with date kept", "rds:" + strings.Repeat("a", 43) + "-2026-11-20-03-10", strings.Repeat("a", 43) + "-2026-11-20-03-10"},
		{"61 with date shortened", "rds:" + strings.Repeat("a", 44) + "-2026-11-20-03-10", strings.Repeat("a", 34) + "-2026-11-20-03-10-ecdfc71d"},
		{"cut lands on a hyphen", "rds:a-" + strings.Repeat("b", 60), "a-" + strings.Repeat("b", 49) + "-d0897016"},
		{"cut would end in a hyphen", "rds:" + strings.Repeat("a", 50) + "-" + strings.Repeat("c", 20), strings.Repeat("a", 50) + "-" + hash8("rds:"+strings.Repeat("a", 50)+"-"+strings.Repeat("c", 20))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := exportid.FromSnapshot(tc.snapshot)
			if err != nil {
				t.Fatalf("FromSnapshot(%q): %v", tc.snapshot, err)
			}
			if got != tc.want {
				t.Errorf("FromSnapshot(%q) = %q, want %q", tc.snapshot, got, tc.want)
			}
			if err := exportid.Validate(got); err != nil {
				t.Errorf("FromSnapshot(%q) = %q is invalid: %v", tc.snapshot, got, err)
			}
		})
	}
}

// The hash is of the original snapshot id, so ids that clean to the same text stay apart.
func TestFromSnapshotHashesTheOriginal(t *testing.T) {
	const a, b = "rds:ware_house-2026-11-20-03-10", "rds:ware.house-2026-11-20-03-10"
	ga, err := exportid.FromSnapshot(a)
	if err != nil {
		t.Fatal(err)
	}
	gb, err := exportid.FromSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	if ga == gb {
		t.Fatalf("%q and %q both give %q", a, b, ga)
	}
	for s, got := range map[string]string{a: ga, b: gb} {
		if want := "ware-house-2026-11-20-03-10-" + hash8(s); got != want {
			t.Errorf("FromSnapshot(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestFromSnapshotErrors(t *testing.T) {
	for _, snapshot := range []string{"", "rds:", "RDS:", ":::", "rds:---", "日本語", "rds:_.:", "\xff\xfe"} {
		got, err := exportid.FromSnapshot(snapshot)
		var invalid *exportid.InvalidError
		if !errors.As(err, &invalid) {
			t.Errorf("FromSnapshot(%q) = %q, %v; want *InvalidError", snapshot, got, err)
			continue
		}
		if got != "" || invalid.ID != snapshot || invalid.Reason == "" {
			t.Errorf("FromSnapshot(%q) = %q, %+v", snapshot, got, invalid)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		id    string
		valid bool
	}{
		{"warehouse-prod-2026-11-20-03-10", true},
		{"a", true},
		{"Warehouse-Prod", true},
		{"s-1", true},
		{strings.Repeat("a", 60), true},
		{strings.Repeat("a", 61), false},
		{"", false},
		{"1warehouse", false},
		{"-warehouse", false},
		{"warehouse-", false},
		{"ware--house", false},
		{"ware_house", false},
		{"ware.house", false},
		{"rds:warehouse", false},
		{"entrepôt", false},
		{"ware house", false},
	}
	for _, tc := range tests {
		err := exportid.Validate(tc.id)
		if tc.valid {
			if err != nil {
				t.Errorf("Validate(%q) = %v, want valid", tc.id, err)
			}
			continue
		}
		var invalid *exportid.InvalidError
		if !errors.As(err, &invalid) {
			t.Errorf("Validate(%q) = %v, want *InvalidError", tc.id, err)
			continue
		}
		if invalid.ID != tc.id || !strings.Contains(err.Error(), invalid.Reason) {
			t.Errorf("Validate(%q) error %q does not carry id and reason", tc.id, err)
		}
	}
}

// randomSnapshotIDs mixes realistic automated ids with hostile ones.
func randomSnapshotIDs(n int) []string {
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/ ô日"
	runes := []rune(alphabet)
	var out []string
	for range n {
		var b strings.Builder
		if r.IntN(2) == 0 {
			b.WriteString("rds:")
		}
		for range 1 + r.IntN(80) {
			b.WriteRune(runes[r.IntN(len(runes))])
		}
		if r.IntN(2) == 0 {
			fmt.Fprintf(&b, "-%04d-%02d-%02d-%02d-%02d", 2020+r.IntN(10), 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60))
		}
		out = append(out, b.String())
	}
	return out
}

func TestFromSnapshotProperties(t *testing.T) {
	seen := map[string]string{} // export id -> snapshot id
	for _, s := range randomSnapshotIDs(20000) {
		got, err := exportid.FromSnapshot(s)
		if err != nil {
			var invalid *exportid.InvalidError
			if !errors.As(err, &invalid) {
				t.Fatalf("FromSnapshot(%q): %v is not an *InvalidError", s, err)
			}
			continue
		}
		if err := exportid.Validate(got); err != nil {
			t.Errorf("FromSnapshot(%q) = %q: %v", s, got, err)
		}
		if again, _ := exportid.FromSnapshot(s); again != got {
			t.Errorf("FromSnapshot(%q) gave %q then %q", s, got, again)
		}
		// Only case and the "rds:" prefix may legitimately merge two inputs.
		key := strings.TrimPrefix(strings.ToLower(s), "rds:")
		if prev, ok := seen[got]; ok && strings.TrimPrefix(strings.ToLower(prev), "rds:") != key {
			t.Errorf("%q and %q both give %q", prev, s, got)
		}
		seen[got] = s
	}
	if len(seen) < 19000 {
		t.Errorf("only %d distinct ids from 20000 random snapshot ids: the generator is too narrow to prove anything", len(seen))
	}
}

// Snapshots of one 63-character instance differ only past the cut: date and hash keep them apart.
func TestFromSnapshotDistinctBeyondTruncation(t *testing.T) {
	var snapshots []string
	for pos := 40; pos < len(instance63); pos++ {
		inst := instance63[:pos] + "x" + instance63[pos+1:]
		snapshots = append(snapshots, "rds:"+inst+"-2026-11-20-03-10")
	}
	for day := 1; day <= 28; day++ {
		snapshots = append(snapshots, fmt.Sprintf("rds:%s-2026-11-%02d-03-10", instance63, day))
	}
	for n := 61; n <= 80; n++ {
		snapshots = append(snapshots, "rds:"+strings.Repeat("q", n))
	}
	seen := map[string]string{}
	for _, s := range snapshots {
		got, err := exportid.FromSnapshot(s)
		if err != nil {
			t.Fatalf("FromSnapshot(%q): %v", s, err)
		}
		if len(got) != exportid.MaxLen {
			t.Errorf("FromSnapshot(%q) = %q: %d characters, want the full %d", s, got, len(got), exportid.MaxLen)
		}
		if prev, ok := seen[got]; ok {
			t.Errorf("%q and %q both give %q", prev, s, got)
		}
		seen[got] = s
	}
}

// Valid lower-case identifiers are their own export id: no needless rewriting of normal names.
func TestFromSnapshotKeepsValidIDs(t *testing.T) {
	for _, id := range []string{"warehouse-prod-2026-11-20-03-10", "a", "x1-y2", strings.Repeat("k", 60)} {
		for _, s := range []string{id, "rds:" + id} {
			if got, err := exportid.FromSnapshot(s); err != nil || got != id {
				t.Errorf("FromSnapshot(%q) = %q, %v; want %q", s, got, err, id)
			}
		}
	}
}

func FuzzFromSnapshot(f *testing.F) {
	for _, s := range []string{
		"rds:warehouse-prod-2026-11-20-03-10",
		"warehouse-prod-before-migration-2026-11-19",
		"rds:" + instance63 + "-2026-11-20-03-10",
		"rds:1warehouse-2026-11-20-03-10",
		"rds:ware_house.prod:x-2026-11-20-03-10",
		"rds:entrepôt-2026-11-20-03-10",
		"RDS:Warehouse-Prod-2026-11-20-03-10",
		"rds:" + strings.Repeat("a", 60),
		"rds:" + strings.Repeat("a", 44) + "-2026-11-20-03-10",
		"", "rds:", ":::", "\u212a", "\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := exportid.FromSnapshot(s)
		if err != nil {
			var invalid *exportid.InvalidError
			if !errors.As(err, &invalid) {
				t.Fatalf("FromSnapshot(%q): %v (%T) is not an *InvalidError", s, err, err)
			}
			return
		}
		if err := exportid.Validate(got); err != nil {
			t.Fatalf("FromSnapshot(%q) = %q: %v", s, got, err)
		}
		if again, err := exportid.FromSnapshot(s); err != nil || again != got {
			t.Fatalf("FromSnapshot(%q) not deterministic: %q then %q, %v", s, got, again, err)
		}
		if got != strings.ToLower(got) {
			t.Fatalf("FromSnapshot(%q) = %q is not lower case", s, got)
		}
		bare := s
		if len(bare) >= 4 && strings.EqualFold(bare[:4], "rds:") {
			bare = bare[4:]
		}
		if exportid.Validate(bare) == nil && got != strings.ToLower(bare) {
			t.Fatalf("FromSnapshot(%q) = %q rewrote an already valid id", s, got)
		}
	})
}

func BenchmarkFromSnapshot(b *testing.B) {
	for _, s := range []string{"rds:warehouse-prod-2026-11-20-03-10", "rds:" + instance63 + "-2026-11-20-03-10"} {
		b.Run(fmt.Sprintf("len%d", len(s)), func(b *testing.B) {
			for b.Loop() {
				if _, err := exportid.FromSnapshot(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
