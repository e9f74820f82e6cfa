// Package exportid derives the RDS export task identifier of a snapshot, deterministically,
// so that a redelivered event or a retried execution names the same export and never starts a second one.
package exportid

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
)

// MaxLen is the longest export task identifier RDS accepts.
const MaxLen = 60

// hashLen hex digits of sha256 keep shortened or rewritten identifiers apart.
const hashLen = 8

// InvalidError says an identifier cannot be used, or none can be derived from a snapshot id.
type InvalidError struct {
	ID     string
	Reason string
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("invalid export task identifier %q: %s", e.ID, e.Reason)
}

// Validate reports whether id is acceptable to StartExportTask.
func Validate(id string) error {
	invalid := func(reason string) error { return &InvalidError{ID: id, Reason: reason} }
	switch {
	case id == "":
		return invalid("empty")
	case len(id) > MaxLen:
		return invalid(fmt.Sprintf("%d characters, at most %d allowed", len(id), MaxLen))
	case !isLetter(id[0]):
		return invalid("must begin with a letter")
	case strings.HasSuffix(id, "-"):
		return invalid("must not end with a hyphen")
	case strings.Contains(id, "--"):
		return invalid("must not contain two consecutive hyphens")
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !isLetter(c) && !isDigit(c) && c != '-' {
			return invalid(fmt.Sprintf("character %q at %d: only ASCII letters, digits and hyphens allowed", c, i))
		}
	}
	return nil
}

// dateTail matches the "-YYYY-MM-DD-HH-MM" RDS appends to automated snapshot ids.
var dateTail = regexp.MustCompile(`-[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}$`)

// FromSnapshot returns a valid, deterministic export task identifier for the snapshot id
// (e.g. "rds:warehouse-prod-2026-11-20-03-10" -> "warehouse-prod-2026-11-20-03-10").
//
// A snapshot id that is already a valid identifier once "rds:" is stripped is used as is,
// lower-cased (RDS identifiers are case-insensitive). Otherwise the id is rewritten and,
// because a rewrite or a cut can make two snapshots look alike, it ends in "-" and 8 hex
// digits of the sha256 of the original snapshot id, after a readable head and the date tail.
//
// Known limits: an automated snapshot "rds:x" and a manual snapshot named "x" (for example
// a copy of it) get the same identifier, and a snapshot id built to end in another one's
// hash can collide with it; StartExportTask then fails with ExportTaskAlreadyExists.
func FromSnapshot(snapshotID string) (string, error) {
	s := snapshotID
	if len(s) >= 4 && strings.EqualFold(s[:4], "rds:") {
		s = s[4:]
	}
	cleaned := clean(s)
	if cleaned == "" {
		return "", &InvalidError{ID: snapshotID, Reason: "cannot derive one from a snapshot id without ASCII letters or digits"}
	}
	lossy := cleaned != asciiLower(s)
	if !isLetter(cleaned[0]) {
		// "s-" + x is itself a possible snapshot id, so the prefix needs the hash too.
		cleaned = "s-" + cleaned
		lossy = true
	}
	if !lossy && len(cleaned) <= MaxLen {
		return cleaned, nil
	}

	head, date := cleaned, ""
	if loc := dateTail.FindStringIndex(cleaned); loc != nil {
		head, date = cleaned[:loc[0]], cleaned[loc[0]:]
	}
	sum := sha256.Sum256([]byte(snapshotID))
	tail := date + "-" + hex.EncodeToString(sum[:])[:hashLen]
	if budget := MaxLen - len(tail); len(head) > budget {
		head = strings.TrimRight(head[:budget], "-")
	}
	return head + tail, nil
}

// clean lower-cases ASCII letters, turns every other run of characters that are not
// letters or digits into one hyphen, and trims hyphens at both ends.
func clean(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	pendingHyphen := false
	for _, r := range s {
		if r >= 'A' && r <= 'Z' {
			r += 'a' - 'A'
		}
		if r > 0x7f || !(isLetter(byte(r)) || isDigit(byte(r))) {
			pendingHyphen = true
			continue
		}
		if pendingHyphen && b.Len() > 0 {
			b.WriteByte('-')
		}
		pendingHyphen = false
		b.WriteRune(r)
	}
	return b.String()
}

// asciiLower lower-cases ASCII letters only: Unicode case mapping could turn a
// non-ASCII rune (the Kelvin sign) into an ASCII letter and hide a rewrite.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
