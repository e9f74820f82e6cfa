package redshift

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
)

// Statements are the PostgreSQL stand-in's submitted statements, held as Redshift
// holds a Data API statement: each runs on its own connection, outlives the call
// (and the Lambda invocation) that submitted it, and is found again by its id. One
// Statements is the stand-in "service": an offline run shares one among every
// Postgres it opens (WithStatements), so that a statement submitted by one
// invocation is described and cancelled by the next.
type Statements struct {
	mu      sync.Mutex
	byID    map[string]*pgStatement
	byToken map[string]string
	n       int
}

type pgStatement struct {
	st     Statement
	files  []File
	cancel context.CancelFunc
	done   chan struct{}
}

// NewStatements is an empty set of statements.
func NewStatements() *Statements {
	return &Statements{byID: map[string]*pgStatement{}, byToken: map[string]string{}}
}

// Submitted is how many statements were submitted (a token submitted again counts
// once): tests count them.
func (s *Statements) Submitted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// Running is how many statements have not ended.
func (s *Statements) Running() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.byID {
		if p.st.Running() {
			n++
		}
	}
	return n
}

// WithStatements makes the stand-in keep its statements in s (default: its own).
func WithStatements(s *Statements) PostgresOption {
	return func(p *Postgres) {
		if s != nil {
			p.statements = s
		}
	}
}

// submit starts run on a connection of its own, detached from ctx (the caller may
// return, as a Lambda does, while the statement goes on). A token seen before returns
// its statement: ExecuteStatement's ClientToken.
func (p *Postgres) submit(token, sql string, run func(ctx context.Context, conn *pgx.Conn) (int64, []File, error)) (string, error) {
	s := p.statements
	s.mu.Lock()
	if id, ok := s.byToken[token]; ok && token != "" {
		s.mu.Unlock()
		return id, nil
	}
	id := NewToken()
	id = id[:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:] // a UUID's shape, as the Data API's ids
	ctx, cancel := context.WithCancel(context.Background())
	ps := &pgStatement{st: Statement{ID: id, Status: StatusSubmitted, ResultRows: -1, SQL: firstLine(sql), Warehouse: p.name}, cancel: cancel, done: make(chan struct{})}
	s.byID[id] = ps
	if token != "" {
		s.byToken[token] = id
	}
	s.n++
	s.mu.Unlock()

	go func() {
		defer close(ps.done)
		defer cancel()
		rows, files, err := func() (int64, []File, error) {
			conn, err := pgx.ConnectConfig(ctx, p.config)
			if err != nil {
				return 0, nil, fmt.Errorf("connect to PostgreSQL warehouse %s: %w", p.name, err)
			}
			defer conn.Close(context.Background())
			s.mu.Lock()
			if ps.st.Status == StatusSubmitted {
				ps.st.Status = StatusStarted
			}
			s.mu.Unlock()
			return run(ctx, conn)
		}()
		s.mu.Lock()
		defer s.mu.Unlock()
		switch {
		case err != nil && ctx.Err() != nil:
			// Stopped by Cancel: ABORTED, "stopped by the user".
			ps.st.Status, ps.st.Error = StatusAborted, "Query (statement "+id+") cancelled on user's request"
		case err != nil:
			ps.st.Status, ps.st.Error, ps.st.err = StatusFailed, err.Error(), err
		default:
			ps.st.Status, ps.st.ResultRows, ps.files = StatusFinished, rows, files
		}
	}()
	return id, nil
}

func (p *Postgres) statement(id string) (*pgStatement, error) {
	s := p.statements
	s.mu.Lock()
	defer s.mu.Unlock()
	ps, ok := s.byID[id]
	if !ok {
		return nil, &StatementNotFoundError{Warehouse: p.name, ID: id}
	}
	return ps, nil
}

// SubmitUnload starts the UNLOAD (see Unload) in the background.
func (p *Postgres) SubmitUnload(ctx context.Context, token, query, prefix string) (string, error) {
	return p.submit(token, "UNLOAD ('"+query+"') TO '"+prefix+"'", func(ctx context.Context, conn *pgx.Conn) (int64, []File, error) {
		q, bucket, keyPrefix, err := p.checkUnload(ctx, query, prefix)
		if err != nil {
			return 0, nil, err
		}
		files, err := p.unloadOn(ctx, conn, q, prefix, bucket, keyPrefix)
		var rows int64
		for _, f := range files {
			rows += f.Rows
		}
		return rows, files, err
	})
}

// SubmitCopy starts the COPY (see Copy) in the background.
func (p *Postgres) SubmitCopy(ctx context.Context, token, schema, table string, files []File) (string, error) {
	if len(files) == 0 {
		return "", fmt.Errorf("copy into %s.%s: no files", schema, table)
	}
	return p.submit(token, "COPY "+pgTable(schema, table)+" FROM manifest", func(ctx context.Context, conn *pgx.Conn) (int64, []File, error) {
		if err := p.checkCopy(schema, table, files); err != nil {
			return 0, nil, err
		}
		rows, err := p.copyOn(ctx, conn, schema, table, files)
		return rows, nil, err
	})
}

// SubmitExec starts Exec's transaction in the background: BatchExecuteStatement (or
// ExecuteStatement for one statement) with its ClientToken. What Redshift refuses is
// refused when the statement runs, as Redshift reports it: the statement ends FAILED.
func (p *Postgres) SubmitExec(ctx context.Context, token string, statements ...string) (string, error) {
	if len(statements) == 0 {
		return "", fmt.Errorf("redshift %s: submit: no statements", p.name)
	}
	if len(statements) > maxBatch {
		return "", fmt.Errorf("redshift %s: %d statements in one transaction; the Data API runs at most %d in a batch", p.name, len(statements), maxBatch)
	}
	return p.submit(token, statements[0], func(ctx context.Context, conn *pgx.Conn) (int64, []File, error) {
		return -1, nil, p.execOn(ctx, conn, statements)
	})
}

// Describe reports a statement as DescribeStatement does.
func (p *Postgres) Describe(ctx context.Context, id string) (Statement, error) {
	ps, err := p.statement(id)
	if err != nil {
		return Statement{}, err
	}
	p.statements.mu.Lock()
	defer p.statements.mu.Unlock()
	return ps.st, nil
}

// Cancel stops a running statement: its query is cancelled on the server (pgx sends
// PostgreSQL's cancel request, as pg_cancel_backend does) and it ends ABORTED.
func (p *Postgres) Cancel(ctx context.Context, id string) error {
	ps, err := p.statement(id)
	if err != nil {
		return err
	}
	p.statements.mu.Lock()
	st := ps.st
	p.statements.mu.Unlock()
	if !st.Running() {
		// What the Data API answers here is Status false or a ValidationException (not
		// documented which); DataAPI.Cancel makes either this error, and so does the
		// stand-in, without inventing a message.
		return &NotRunningError{Warehouse: p.name, ID: id, Reason: "Status false: the statement is " + st.Status}
	}
	ps.cancel()
	return nil
}

// UnloadedFiles returns the files of a FINISHED UNLOAD.
func (p *Postgres) UnloadedFiles(ctx context.Context, id, prefix string) ([]File, error) {
	ps, err := p.statement(id)
	if err != nil {
		return nil, err
	}
	p.statements.mu.Lock()
	defer p.statements.mu.Unlock()
	if ps.st.Status != StatusFinished {
		return nil, errors.New("redshift " + p.name + ": statement " + id + " is " + ps.st.Status + ", not FINISHED: no files to read")
	}
	return ps.files, nil
}
