package opscli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/snaplake/snaplake/internal/config"
)

const configUsage = `Usage:
  snaplake config validate FILE   check a snaplake.yaml
  snaplake config schema          print its JSON Schema

validate reads FILE strictly (unknown keys, wrong types, duplicate keys and missing
required fields are errors) and applies each section's own rules. It prints
"FILE: valid (sections: ...)", or one line per problem on stderr, in the form
FILE:LINE:COLUMN: FIELD: REASON, and exits with status 1.

schema prints the JSON Schema (draft 2020-12) editors use to complete and check the
file; with the YAML language server, start the file with
  # yaml-language-server: $schema=<path to the printed schema>

In AWS the file lives in the lake bucket at ` + config.S3Key + `; a run reads it at its
start and refuses a version that does not validate. To check that copy:
  aws s3 cp s3://BUCKET/` + config.S3Key + ` snaplake.yaml && snaplake config validate snaplake.yaml
`

// Config is `snaplake config`: validate a snaplake.yaml, or print its JSON Schema.
func Config(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return run(ctx, NewConfigCommand(), args, stdout, stderr)
}

// NewConfigCommand is `snaplake config validate|schema`.
func NewConfigCommand() *cobra.Command {
	return NewGroup("config", "check a snaplake.yaml, or print its JSON Schema", configUsage,
		newConfigValidateCommand(), newConfigSchemaCommand())
}

func newConfigValidateCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "validate FILE",
		Short: "check a snaplake.yaml: FILE:LINE:COLUMN: FIELD: REASON",
		Long:  configUsage,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 || strings.HasPrefix(args[0], "-") {
				return UsageError(c, "want one FILE")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			return validateConfig(args[0], c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	// A flag is not a FILE: say what validate wants rather than the flag's name.
	c.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return UsageError(c, "want one FILE (%v)", err)
	})
	return c
}

func newConfigSchemaCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "print the JSON Schema of snaplake.yaml (for editors)",
		Long:  configUsage,
		Args:  NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := c.OutOrStdout().Write(Schema())
			return err
		},
	}
}

func validateConfig(path string, stdout, stderr io.Writer) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err // "open FILE: no such file or directory"
	}
	var f File
	if err := config.Parse(path, data, &f); err != nil {
		n := 1
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			n = len(j.Unwrap())
		}
		fmt.Fprintln(stderr, err) // one problem a line
		if n == 1 {
			return errors.New(path + ": 1 problem")
		}
		return fmt.Errorf("%s: %d problems", path, n)
	}
	sections := "none"
	if s := config.Present(&f); len(s) > 0 {
		sections = strings.Join(s, ", ")
	}
	fmt.Fprintf(stdout, "%s: valid (sections: %s)\n", path, sections)
	return nil
}
