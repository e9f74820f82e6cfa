// Package opscli holds the snaplake CLI's operator commands, those that act on the
// deployed pipeline; it never imports the offline environment (internal/local).
package opscli

import "errors"

// ErrUsage marks a command-line mistake whose usage is already printed: exit status 2.
// The CLI's offline commands return it too.
var ErrUsage = errors.New("usage")
