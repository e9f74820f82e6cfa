// Package opscli holds the snaplake CLI's operator commands, those that act on the
// deployed pipeline; it never imports the offline environment (internal/local).
package opscli

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// ErrUsage marks a command-line mistake whose usage is already printed: exit status 2.
// The CLI's offline commands return it too.
var ErrUsage = errors.New("usage")

// parseFlags parses a command's flags. done says the caller returns err at once: nil
// after -h (the flag package printed the usage), ErrUsage after a mistake.
func parseFlags(fs *flag.FlagSet, args []string) (done bool, err error) {
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		return true, nil
	case err != nil:
		return true, ErrUsage
	}
	return false, nil
}

// planSubcommand checks that a command whose one subcommand is "plan" was given it,
// and prints the usage when it was not (or asked for); done as for parseFlags.
func planSubcommand(command, usage string, args []string, stderr io.Writer) (done bool, err error) {
	if len(args) > 0 && args[0] == "plan" {
		return false, nil
	}
	switch {
	case len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help"):
		fmt.Fprint(stderr, usage)
		return true, nil
	case len(args) > 0:
		fmt.Fprintf(stderr, "snaplake %s: unknown subcommand %q\n", command, args[0])
	}
	fmt.Fprint(stderr, usage)
	return true, ErrUsage
}

// usageError prints a command-line mistake, then the command's usage: ErrUsage.
func usageError(fs *flag.FlagSet, format string, a ...any) error {
	fmt.Fprintf(fs.Output(), "snaplake "+fs.Name()+": "+format+"\n", a...)
	fs.Usage()
	return ErrUsage
}
