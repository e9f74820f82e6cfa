// Package opscli holds the snaplake CLI's operator commands, those that act on the
// deployed pipeline; it never imports the offline environment (internal/local).
// Each command is a cobra.Command of its own; this file holds the conventions they
// share, so that every command behaves alike: -h prints its usage on stderr and
// exits 0, a command-line mistake prints the mistake and the usage (ErrUsage, exit 2),
// and the flags keep the Go flag package's spellings (-flag as well as --flag) and
// messages, which scripts written for the earlier CLI rely on.
package opscli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// ErrUsage marks a command-line mistake whose usage is already printed: exit status 2.
// The CLI's offline commands return it too.
var ErrUsage = errors.New("usage")

// Execute runs cmd (a whole tree, or one command on its own) with args under the CLI's
// conventions. It returns the command that ran, so that a failure can be named after it.
func Execute(ctx context.Context, cmd *cobra.Command, args []string, stdout, stderr io.Writer) (*cobra.Command, error) {
	cmd.SilenceErrors = true // the caller prints failures; usage errors are printed already
	cmd.SilenceUsage = true
	cmd.SetHelpFunc(printHelp)
	cmd.SetUsageFunc(func(c *cobra.Command) error { printHelp(c, nil); return nil })
	cmd.SetFlagErrorFunc(flagError)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SetArgs(longDashes(cmd, args))
	return cmd.ExecuteContextC(ctx)
}

// run executes one command on its own, as the exported per-command functions do.
func run(ctx context.Context, cmd *cobra.Command, args []string, stdout, stderr io.Writer) error {
	cmd.CompletionOptions.DisableDefaultCmd = true
	_, err := Execute(ctx, cmd, args, stdout, stderr)
	return err
}

// Path is how a command is written on the command line: "snaplake federate publish".
func Path(c *cobra.Command) string {
	if c.Root().Name() == "snaplake" {
		return c.CommandPath()
	}
	return "snaplake " + c.CommandPath()
}

// UsageError prints a command-line mistake, then the command's usage: ErrUsage.
func UsageError(c *cobra.Command, format string, a ...any) error {
	fmt.Fprintf(c.ErrOrStderr(), Path(c)+": "+format+"\n", a...)
	printHelp(c, nil)
	return ErrUsage
}

// NoArgs refuses positional arguments, naming the first.
func NoArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return UsageError(c, "unexpected argument %q", args[0])
	}
	return nil
}

// NewGroup is a command that only holds subcommands: without one, or with an
// unknown one, it prints its usage (ErrUsage); "help" prints it too.
func NewGroup(use, short, long string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short, Long: long, Args: cobra.ArbitraryArgs,
		Annotations: map[string]string{groupAnnotation: "true"},
		RunE: func(c *cobra.Command, args []string) error {
			switch {
			case len(args) == 0:
				printHelp(c, nil)
				return ErrUsage
			case args[0] == "help":
				printHelp(c, nil)
				return nil
			}
			if s := c.SuggestionsFor(args[0]); len(s) > 0 {
				return UsageError(c, "unknown subcommand %q (did you mean %s?)", args[0], strings.Join(s, " or "))
			}
			return UsageError(c, "unknown subcommand %q", args[0])
		}}
	c.AddCommand(subs...)
	return c
}

// groupAnnotation marks a NewGroup command, which usage lists do not name alone.
const groupAnnotation = "snaplake-group"

// printHelp prints a command's usage on stderr, as the Go flag package did: its Long
// text, every command below it, and its flags.
func printHelp(c *cobra.Command, _ []string) {
	w := c.ErrOrStderr()
	if c.Long != "" {
		fmt.Fprintln(w, strings.TrimRight(c.Long, "\n"))
	} else {
		fmt.Fprintf(w, "Usage: %s\n\n%s\n", useLine(c), c.Short)
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(w, "\nCommands:\n%s", CommandList(c))
	}
	// -h itself is left out: the usage is what it prints.
	flags := pflag.NewFlagSet(c.Name(), pflag.ContinueOnError)
	c.LocalFlags().VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" {
			flags.AddFlag(f)
		}
	})
	if flags.HasAvailableFlags() {
		fmt.Fprintf(w, "\nFlags:\n%s", flags.FlagUsages())
	}
}

// CommandList lists every command below c, one a line with its short description,
// so that a usage names each command and none can be forgotten.
func CommandList(c *cobra.Command) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 3, ' ', 0)
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, s := range c.Commands() {
			if !s.IsAvailableCommand() && s.Name() != "help" {
				continue
			}
			if s.Name() == "completion" && s.HasSubCommands() {
				// cobra's: one line for its four shells.
				fmt.Fprintf(tw, "  %s bash|zsh|fish|powershell\t%s\n", Path(s), s.Short)
				continue
			}
			if s.Annotations[groupAnnotation] == "" {
				fmt.Fprintf(tw, "  %s\t%s\n", Path(s), s.Short)
			}
			walk(s)
		}
	}
	walk(c)
	tw.Flush()
	return b.String()
}

// useLine is the command's path and the arguments its Use names.
func useLine(c *cobra.Command) string {
	_, rest, _ := strings.Cut(c.Use, " ")
	return strings.TrimSpace(Path(c) + " " + rest)
}

// flagError reports a flag mistake in the Go flag package's words (which the earlier
// CLI printed and its users and tests know), then the usage: ErrUsage.
func flagError(c *cobra.Command, err error) error {
	var (
		notExist *pflag.NotExistError
		invalid  *pflag.InvalidValueError
		required *pflag.ValueRequiredError
	)
	msg := err.Error()
	switch {
	case errors.As(err, &notExist):
		msg = "flag provided but not defined: -" + notExist.GetSpecifiedName()
	case errors.As(err, &invalid):
		msg = fmt.Sprintf("invalid value %q for flag -%s: %v", invalid.GetValue(), invalid.GetFlag().Name, errors.Unwrap(invalid))
	case errors.As(err, &required):
		msg = "flag needs an argument: -" + required.GetSpecifiedName()
	}
	fmt.Fprintln(c.ErrOrStderr(), msg)
	printHelp(c, nil)
	return ErrUsage
}

// longDashes rewrites -name and -name=value to --name... for the long flags of the
// command args run, so that the Go flag package's single-dash spelling, which the
// earlier CLI accepted, keeps working under pflag (which reads -name as the
// shorthands n, a, m, e). As the flag package did, it stops at the first argument
// that is not a flag, and at "--".
func longDashes(root *cobra.Command, args []string) []string {
	c, i := root, 0
	for ; i < len(args) && !strings.HasPrefix(args[i], "-"); i++ {
		next := subcommand(c, args[i])
		if next == nil {
			break
		}
		c = next
	}
	lookup := func(name string) *pflag.Flag {
		if f := c.Flags().Lookup(name); f != nil {
			return f
		}
		return c.InheritedFlags().Lookup(name)
	}
	out := append([]string(nil), args[:i]...)
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" || a == "-" || !strings.HasPrefix(a, "-") {
			return append(out, args[i:]...)
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := lookup(name)
		if !strings.HasPrefix(a, "--") && len(name) > 1 && (f != nil || name == "help") {
			a = "-" + a
		}
		out = append(out, a)
		if f != nil && !hasValue && f.NoOptDefVal == "" && i+1 < len(args) {
			i++ // the flag's value, whatever it looks like
			out = append(out, args[i])
		}
	}
	return out
}

func subcommand(c *cobra.Command, name string) *cobra.Command {
	for _, s := range c.Commands() {
		if s.Name() == name || s.HasAlias(name) {
			return s
		}
	}
	return nil
}
