package mariadbtest

import "testing"

func TestStartLongDir(t *testing.T) {
	s := Start(t)
	if len(s.Socket) >= 100 {
		t.Fatalf("socket path %q too long for a Unix socket", s.Socket)
	}
	db, err := s.DB("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v string
	if err := db.QueryRow("SELECT VERSION()").Scan(&v); err != nil {
		t.Fatal(err)
	}
}
