// Package localcli holds the snaplake CLI's offline commands: demo runs a night of the
// pipeline on this machine, query answers SQL over the local lake it leaves.
package localcli

import "os"

// defaultHomeDir is where `snaplake demo` keeps the local lake when neither --home nor
// SNAPLAKE_HOME says otherwise.
const defaultHomeDir = ".snaplake"

// resolveHome resolves the lake directory: the flag, else SNAPLAKE_HOME, else .snaplake.
func resolveHome(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if env := os.Getenv("SNAPLAKE_HOME"); env != "" {
		return env
	}
	return defaultHomeDir
}
