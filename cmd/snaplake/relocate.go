package main

import (
	"context"
	"errors"
	"io"
)

// runRelocate is a placeholder until the relocate command lands.
func runRelocate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("relocate: not built yet")
}
