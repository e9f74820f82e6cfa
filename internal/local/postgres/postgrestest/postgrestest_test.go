package postgrestest

import (
	"context"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/snaplake/snaplake/internal/local/postgres"
	"github.com/snaplake/snaplake/internal/local/testenv"
)

func TestStartTwiceInParallel(t *testing.T) {
	testenv.NeedsServers(t) // before the goroutines: t.Skip must run on the test goroutine
	servers := make([]*postgres.Server, 2)
	var wg sync.WaitGroup
	for i := range servers {
		wg.Go(func() { servers[i] = Start(t) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if servers[0].Port == servers[1].Port {
		t.Fatalf("both servers on port %d", servers[0].Port)
	}
	ctx := context.Background()
	for _, s := range servers {
		if len(filepath.Join(s.SocketDir, ".s.PGSQL."+strconv.Itoa(s.Port))) >= 100 {
			t.Errorf("socket directory %q too long for a Unix socket", s.SocketDir)
		}
		conn, err := s.Connect(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		var port int
		if err := conn.QueryRow(ctx, "SELECT current_setting('port')::int").Scan(&port); err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
		if port != s.Port {
			t.Errorf("connected to port %d, server says %d", s.Port, port)
		}
	}
}
