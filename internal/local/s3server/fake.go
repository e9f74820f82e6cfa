package s3server

import (
	"net/http/httptest"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// StartFake starts an in-process gofakes3 server on a loopback port, backed by memory.
// It lists with pagination, copies and deletes in batches like S3, but does not
// implement UploadPartCopy (it stores an empty part): use versitygw for multipart copies.
// It does not check signatures, so any credentials work.
func StartFake() (*Server, error) {
	backend := s3mem.New()
	faker := gofakes3.New(backend, gofakes3.WithoutVersioning())
	ts := httptest.NewServer(faker.Server())
	return &Server{
		Endpoint:  ts.URL,
		AccessKey: "fake",
		Secret:    "fake-secret",
		Backend:   backend,
		stop:      ts.Close,
	}, nil
}
