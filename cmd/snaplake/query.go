package main

import (
	"context"
	"errors"
	"io"
)

// runQuery is a placeholder until the query command lands.
func runQuery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("query: not built yet")
}
