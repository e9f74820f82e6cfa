package relocate

import (
	"os"
	"runtime/debug"
)

// TuneGC sets the garbage collector of a process whose main work is relocation (the
// Lambda, the CLI): every request allocates short-lived garbage, so collecting at 5×
// the live heap instead of 2× saves CPU, while a soft memory limit keeps peak memory
// bounded for large exports (the collector works harder near the limit). GOGC and
// GOMEMLIMIT in the environment take precedence.
func TuneGC(memoryLimit int64) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
}

// DefaultMemoryLimit keeps relocating 100,000 objects under 128 MB of RSS.
const DefaultMemoryLimit = 96 << 20
