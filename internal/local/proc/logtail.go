package proc

import "os"

// tailBytes is how much of a server's log an error carries.
const tailBytes = 4000

// LogMark is a position in a server's log file: what was there before a start
// belongs to earlier runs (a reused data directory keeps its log).
type LogMark struct {
	path string
	from int64
}

// MarkLog marks the current end of the log file at path (0 when it does not exist yet).
func MarkLog(path string) LogMark {
	m := LogMark{path: path}
	if st, err := os.Stat(path); err == nil {
		m.from = st.Size()
	}
	return m
}

// Tail returns what was logged since the mark, at most its last 4000 bytes.
func (m LogMark) Tail() string {
	b, err := os.ReadFile(m.path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if m.from < int64(len(b)) {
		b = b[m.from:]
	}
	return Tail(b, tailBytes)
}

// Tail returns the last n bytes of b, for error messages quoting a program's output.
func Tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
