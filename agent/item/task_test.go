package item

import (
	"bytes"
	"strings"
	"testing"
)

var taskKeys = []string{fSubject, fDueDate, fStatus, fBody, fPercent}

func todo(props ...string) []byte {
	return cal(append(append([]string{"BEGIN:VTODO", "UID:t1", "DTSTAMP:20260101T000000Z"}, props...), "END:VTODO")...)
}

func TestDecodeTask(t *testing.T) {
	tests := []struct {
		name string
		text []byte
		want Values
	}{
		{"nextcloud sample", readTestdata(t, "task.ics"), Values{fSubject: "Send the offer", fBody: "Include the, discount",
			fDueDate: "2026-12-10", fStatus: "IN-PROCESS", fPercent: "40"}},
		{"due in a zone", todo("DUE;TZID=America/New_York:20260701T170000"), Values{fDueDate: "2026-07-01T21:00:00Z"}},
		{"due from DTSTART and DURATION", todo("DTSTART:20260701T170000Z", "DURATION:P1D"), Values{fDueDate: "2026-07-02T17:00:00Z"}},
		{"unknown status dropped", todo("STATUS:TENTATIVE"), Values{}},
		{"percent out of range dropped", todo("PERCENT-COMPLETE:140"), Values{}},
		{"percent not a number dropped", todo("PERCENT-COMPLETE:half"), Values{}},
		{"percent canonical", todo("PERCENT-COMPLETE:050", "STATUS: completed "), Values{fPercent: "50", fStatus: "COMPLETED"}},
		{"escaped line break, upper case N, space trimmed", todo(`SUMMARY:  a\Nb  `), Values{fSubject: "a\nb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it, err := DecodeTask(tt.text)
			if err != nil {
				t.Fatal(err)
			}
			assertValues(t, it.Values, tt.want)
		})
	}
}

func TestEncodeTaskFields(t *testing.T) {
	tests := []struct {
		key, value, line string
	}{
		{fSubject, "Call back", "SUMMARY:Call back"},
		{fBody, "line1\nline2", `DESCRIPTION:line1\nline2`},
		{fDueDate, "2026-12-10", "DUE;VALUE=DATE:20261210"},
		{fDueDate, "2026-12-10T17:00:00+01:00", "DUE:20261210T160000Z"},
		{fStatus, "in-process", "STATUS:IN-PROCESS"},
		{fPercent, "75", "PERCENT-COMPLETE:75"},
	}
	for _, tt := range tests {
		t.Run(tt.key+" "+tt.value, func(t *testing.T) {
			out, err := EncodeTask(nil, "t-1", "crm-t", []string{tt.key}, Values{tt.key: tt.value})
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range []string{tt.line, "UID:t-1", "X-CRM-ID:crm-t", "DTSTAMP:20261120T083000Z", "BEGIN:VTODO"} {
				mustLine(t, out, l)
			}
			it, err := DecodeTask(out)
			if err != nil {
				t.Fatal(err)
			}
			if it.Values[tt.key] == "" {
				t.Errorf("%s not decoded", tt.key)
			}
		})
	}
}

func TestTaskRoundTripAndPrev(t *testing.T) {
	v := Values{fSubject: "Send the offer, v2", fDueDate: "2026-12-11T16:00:00Z", fStatus: "COMPLETED", fBody: "x\ny", fPercent: "100"}
	for _, prev := range [][]byte{nil, readTestdata(t, "task.ics")} {
		out, err := EncodeTask(prev, "task-1@example", "", taskKeys, v)
		if err != nil {
			t.Fatal(err)
		}
		it, err := DecodeTask(out)
		if err != nil {
			t.Fatal(err)
		}
		assertValues(t, it.Values, v)
		if prev != nil {
			mustLine(t, out, "X-APPLE-SORT-ORDER:12")
			mustLine(t, out, "CATEGORIES:Track in CRM")
		}
		again, _ := EncodeTask(out, "task-1@example", "", taskKeys, it.Values)
		if !bytes.Equal(again, out) {
			t.Errorf("second encode differs")
		}
	}
	// owned restriction
	out, err := EncodeTask(readTestdata(t, "task.ics"), "", "", []string{fPercent}, v)
	if err != nil {
		t.Fatal(err)
	}
	it, _ := DecodeTask(out)
	assertValues(t, it.Values, Values{fSubject: "Send the offer", fBody: "Include the, discount",
		fDueDate: "2026-12-10", fStatus: "IN-PROCESS", fPercent: "100"})
}

func TestEncodeTaskErrors(t *testing.T) {
	for _, v := range []Values{{fStatus: "DONE"}, {fPercent: "101"}, {fPercent: "x"}, {fDueDate: "soon"}} {
		if _, err := EncodeTask(nil, "t", "", taskKeys, v); err == nil {
			t.Errorf("%v encoded", v)
		} else if !strings.Contains(err.Error(), "item: encode task:") {
			t.Errorf("error without context: %v", err)
		}
	}
}
