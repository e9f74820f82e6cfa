package opscli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

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
	if len(args) == 0 {
		fmt.Fprint(stderr, configUsage)
		return ErrUsage
	}
	switch sub, rest := args[0], args[1:]; {
	case sub == "-h" || sub == "--help" || sub == "help":
		fmt.Fprint(stderr, configUsage)
		return nil
	case sub == "validate" && len(rest) == 1 && !strings.HasPrefix(rest[0], "-"):
		return validateConfig(rest[0], stdout, stderr)
	case sub == "validate":
		fmt.Fprintln(stderr, "snaplake config validate: want one FILE")
	case sub == "schema" && len(rest) == 0:
		_, err := stdout.Write(config.Schema())
		return err
	case sub == "schema":
		fmt.Fprintf(stderr, "snaplake config schema: unexpected argument %q\n", rest[0])
	default:
		fmt.Fprintf(stderr, "snaplake config: unknown subcommand %q\n", sub)
	}
	fmt.Fprint(stderr, configUsage)
	return ErrUsage
}

func validateConfig(path string, stdout, stderr io.Writer) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err // "open FILE: no such file or directory"
	}
	f, err := config.Parse(path, data)
	if err != nil {
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
	if s := f.Sections(); len(s) > 0 {
		sections = strings.Join(s, ", ")
	}
	fmt.Fprintf(stdout, "%s: valid (sections: %s)\n", path, sections)
	return nil
}
