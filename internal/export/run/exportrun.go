// Package exportrun builds the nightly export's Lambdas: one constructor per
// function, New<Fn>(getenv, clients, log). The function's main calls it with
// os.Getenv and SDK clients; the offline run calls it with the deployed environment
// from the contract and its authorized stand-ins. Nothing else builds these handlers.
package run

import (
	"fmt"
	"log/slog"

	"github.com/snaplake/snaplake/internal/aws/lambdamain"
	"github.com/snaplake/snaplake/internal/aws/s3get"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/export"
	"github.com/snaplake/snaplake/internal/export/callback"
	"github.com/snaplake/snaplake/internal/export/latest"
	"github.com/snaplake/snaplake/internal/export/relocate"
)

// StartExportClients are what the start-export function calls.
type StartExportClients struct {
	RDS export.RDS
	S3  s3get.API // reads snaplake.yaml's export section
}

// NewStartExport builds the start-export function (deploy.FnStartExport).
func NewStartExport(getenv func(string) string, c StartExportClients, log *slog.Logger) (lambdamain.Func, error) {
	cfg, err := export.ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	h := export.Handler{RDS: c.RDS, S3: c.S3, Config: cfg, Log: log}
	return lambdamain.Handler(h.Handle), nil
}

// AwaitCallbackClients are what the await-callback function calls.
type AwaitCallbackClients struct {
	S3   callback.S3API
	SFN  callback.SFN
	RDS  callback.ExportStatus
	Glue callback.Crawlers
	// Catalogs creates the Glue databases and crawler of a database the stack was
	// not deployed with, when the stack catalogs those at runtime.
	Catalogs callback.CatalogCreator
	// Lake grants the stack's roles their permissions on such a database where Lake
	// Formation governs the snapshot databases.
	Lake callback.LakeGranter
}

// NewAwaitCallback builds the await-callback function (deploy.FnAwaitCallback).
func NewAwaitCallback(getenv func(string) string, c AwaitCallbackClients, log *slog.Logger) (lambdamain.Func, error) {
	store, err := callback.StoreFromEnv(getenv, c.S3)
	if err != nil {
		return nil, err
	}
	newCatalogs, err := callback.NewCatalogsFromEnv(getenv, c.Catalogs, c.Lake)
	if err != nil {
		return nil, err
	}
	h := callback.AwaitHandler{Store: store, SFN: c.SFN, RDS: c.RDS, Glue: c.Glue, NewCatalogs: newCatalogs,
		DataPrefix: callback.DataPrefixFromEnv(getenv), Log: log}
	return lambdamain.Handler(h.Handle), nil
}

// ResumeClients are what the resume function calls.
type ResumeClients struct {
	S3  callback.S3API
	SFN callback.SFN
	RDS callback.ExportStatus
}

// NewResume builds the resume function (deploy.FnResume). Its result is a
// callback.ResumeResult.
func NewResume(getenv func(string) string, c ResumeClients, log *slog.Logger) (lambdamain.Func, error) {
	store, err := callback.StoreFromEnv(getenv, c.S3)
	if err != nil {
		return nil, err
	}
	h := callback.ResumeHandler{Store: store, SFN: c.SFN, RDS: c.RDS, Log: log}
	return lambdamain.Handler(h.Handle), nil
}

// RelocateClients are what the relocate function calls.
type RelocateClients struct {
	// S3 makes the S3 client for the concurrency the environment sets (the Lambda
	// sizes its HTTP connection pool to it).
	S3 func(concurrency int) (relocate.API, error)
}

// NewRelocate builds the relocate function (deploy.FnRelocate).
func NewRelocate(getenv func(string) string, c RelocateClients, log *slog.Logger) (lambdamain.Func, error) {
	defaults, err := relocate.OptionsFromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("read relocate configuration: %w", err)
	}
	conc := defaults.Concurrency
	if conc == 0 {
		conc = relocate.DefaultConcurrency
	}
	api, err := c.S3(conc)
	if err != nil {
		return nil, err
	}
	h := relocate.Handler{API: api, Defaults: defaults, Crawled: deploy.SplitList(getenv(deploy.EnvCrawledDatabases)), Log: log}
	return lambdamain.Handler(h.Handle), nil
}

// LatestClients are what the latest function calls.
type LatestClients struct {
	Glue latest.Catalog
}

// NewLatest builds the latest function (deploy.FnLatest): after the night's crawls
// it points each <snapshot database>_latest table at its newest snapshot_date folder.
func NewLatest(getenv func(string) string, c LatestClients, log *slog.Logger) (lambdamain.Func, error) {
	h := latest.Handler{Glue: c.Glue, DatabasePrefix: getenv(deploy.EnvGlueDatabasePrefix), Log: log}
	return lambdamain.Handler(h.Handle), nil
}
