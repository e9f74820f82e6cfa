// Command snaplake is the operator's CLI: relocate an export by hand, run the whole
// pipeline offline (demo) and query the local lake. It only builds the command tree: the operator
// commands live in internal/opscli, kept free of the offline environment by the
// boundary test; demo and query in internal/local/localcli.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/snaplake/snaplake/internal/local/localcli"
	"github.com/snaplake/snaplake/internal/opscli"
)

// newRoot is the whole command tree: the operator commands, then the offline ones.
func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "snaplake",
		Short: "nightly RDS snapshot -> S3 Parquet -> Athena, without servers",
		Args:  cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				c.HelpFunc()(c, nil)
				return opscli.ErrUsage
			}
			return opscli.UsageError(c, "unknown command %q", args[0])
		},
	}
	root.AddCommand(
		opscli.NewRelocateCommand(), opscli.NewDoctorCommand(), opscli.NewIngestCommand(),
		opscli.NewFederateCommand(), opscli.NewGrantsCommand(), opscli.NewConfigCommand(), opscli.NewArchiveCommand(),
		localcli.NewDemoCommand(), localcli.NewQueryCommand(),
	)
	root.Long = `snaplake: nightly RDS snapshot -> S3 Parquet -> Athena, without servers.

Usage: snaplake <command> [flags]

Run 'snaplake <command> --help' (or 'snaplake help <command>') for a command's flags.
Shell completion: 'snaplake completion bash --help' (or zsh, fish, powershell) says
how to load it.`
	return root
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd, err := opscli.Execute(ctx, newRoot(), args, stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, opscli.ErrUsage):
		return 2
	}
	// Failures are named after the top-level command, as before: "snaplake config: ...".
	name := "snaplake"
	for c := cmd; c != nil && c.HasParent(); c = c.Parent() {
		name = "snaplake " + c.Name()
	}
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "%s: interrupted (%v); the processes it started are stopped\n", name, err)
		return 130
	}
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	return 1
}
