package davtest

import (
	"bytes"
	"sync"
)

// tailSize is how much of Radicale's output a start failure quotes.
const tailSize = 8 << 10

// logSink passes Radicale's output to the test log line by line, and
// keeps its end for the message of a server that does not start.
type logSink struct {
	logf func(format string, args ...any)

	mu      sync.Mutex
	partial []byte
	last    []byte
}

// Write logs every complete line of p.
func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last = append(l.last, p...)
	if len(l.last) > tailSize {
		l.last = append([]byte(nil), l.last[len(l.last)-tailSize:]...)
	}
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.logf("radicale: %s", bytes.TrimRight(l.partial[:i], "\r"))
		l.partial = l.partial[i+1:]
	}
	return len(p), nil
}

// tail returns the end of the output so far.
func (l *logSink) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(bytes.TrimSpace(l.last))
}
