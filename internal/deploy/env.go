package deploy

import "fmt"

// EnvError names a deployed environment variable a function cannot start with: it
// is missing, or its value is wrong. Every Lambda's constructor reports its
// environment with this one type, so an init error always names the variable.
type EnvError struct {
	Var     string // the variable, one of the Env* constants
	Problem string // what is wrong with it, e.g. "is not set"
}

func (e *EnvError) Error() string { return fmt.Sprintf("environment variable %s %s", e.Var, e.Problem) }

// Require returns an *EnvError for the first of names that getenv leaves empty.
func Require(getenv func(string) string, names ...string) error {
	for _, n := range names {
		if getenv(n) == "" {
			return &EnvError{Var: n, Problem: "is not set"}
		}
	}
	return nil
}
