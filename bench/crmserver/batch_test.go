package main

import (
	"net/http"
	"strings"
	"testing"
)

// A $batch as the agent sends it: a decision GET, then a change set that
// creates an email and completes it through $1.
const batchReq = "--batch_a\r\n" +
	"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n" +
	"GET http://127.0.0.1:1/api/data/v9.2/CheckIncomingEmail(MessageId=@m)?@m='x' HTTP/1.1\r\nAccept: application/json\r\n\r\n\r\n" +
	"--batch_a\r\n" +
	"Content-Type: multipart/mixed; boundary=\"changeset_b\"\r\n\r\n" +
	"--changeset_b\r\n" +
	"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\n" +
	"POST http://127.0.0.1:1/api/data/v9.2/emails HTTP/1.1\r\nContent-Type: application/json; type=entry\r\n\r\n" +
	`{"activityid":"0A000000-0000-4000-8000-000000000001","messageid":"<m1@x>","description":"body"}` + "\r\n" +
	"--changeset_b\r\n" +
	"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 2\r\n\r\n" +
	"PATCH $1 HTTP/1.1\r\nContent-Type: application/json\r\nIf-Match: *\r\n\r\n" +
	`{"statecode":1,"statuscode":4}` + "\r\n" +
	"--changeset_b--\r\n" +
	"--batch_a--\r\n"

func answerWith(set string) string {
	return "--r\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nHTTP/1.1 200 OK\r\n\r\n{}\r\n" +
		"--r\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n" + set + "\r\n--cs--\r\n--r--\r\n"
}

func TestBatchCompletion(t *testing.T) {
	ok := answerWith("--cs\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n\r\n" +
		"--cs\r\nContent-Type: application/http\r\nContent-ID: 2\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
	failed := answerWith("--cs\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\nHTTP/1.1 412 Precondition Failed\r\n\r\n{}")
	for _, c := range []struct {
		name, answer string
		want         bool
	}{{"committed", ok, true}, {"failed", failed, false}} {
		parts, err := parseBatch(`multipart/mixed; boundary="batch_a"`, []byte(batchReq))
		if err != nil || len(parts) != 3 {
			t.Fatalf("parse: %d parts, %v", len(parts), err)
		}
		if parts[0].method != http.MethodGet || !strings.HasPrefix(parts[0].path, "CheckIncomingEmail") || parts[2].path != "$1" {
			t.Fatalf("parts: %+v", parts)
		}
		st := matchStatuses(parts, "multipart/mixed; boundary=r", []byte(c.answer))
		m := newMeter("body")
		m.completions(parts, st, nil, 42)
		if _, done := m.completed["<m1@x>"]; done != c.want {
			t.Errorf("%s: statuses %v, completed %v, want %v", c.name, st, m.completed, c.want)
		}
	}
}
