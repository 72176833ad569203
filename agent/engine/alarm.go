package engine

import (
	"time"

	"crmsync/agent/sched"
)

// alarm names one of the loop's timed jobs.
type alarm int

// The loop's timed jobs.
const (
	alarmSync       alarm = iota // reconcile with the CRM
	alarmScan                    // publish scan progress
	alarmMailRetry               // look for a missing mail folder again
	alarmStoreRetry              // decide again the messages whose decision could not be saved
	alarmSettle                  // decide again the files that were still being written
	alarmRelease                 // hand memory back if mail stayed quiet after a burst
	alarmRuleRetry               // track again the mapped folders' messages that could not be read yet
	numAlarms
)

// name names the alarm for logs and tests.
func (k alarm) name() string {
	switch k {
	case alarmSync:
		return "sync"
	case alarmScan:
		return "scan"
	case alarmMailRetry:
		return "mail retry"
	case alarmStoreRetry:
		return "store retry"
	case alarmSettle:
		return "settle"
	case alarmRelease:
		return "release"
	case alarmRuleRetry:
		return "rule retry"
	}
	return "unknown"
}

// alarms multiplexes the loop's timed jobs onto one clock timer, armed for
// the earliest, so the loop selects on one channel for all of them.
type alarms struct {
	clock sched.Clock
	at    [numAlarms]time.Time // when each is due; zero when not set
	timer sched.Timer          // armed for armed; nil when no alarm is set
	c     <-chan time.Time     // timer's channel; nil when no alarm is set
	armed time.Time            // the time timer fires
}

// set makes k due d from now, replacing an earlier setting.
func (a *alarms) set(k alarm, d time.Duration) {
	a.at[k] = a.clock.Now().Add(d)
	a.arm()
}

// setIfIdle makes k due d from now unless it is set already.
func (a *alarms) setIfIdle(k alarm, d time.Duration) {
	if a.at[k].IsZero() {
		a.set(k, d)
	}
}

// clear unsets k.
func (a *alarms) clear(k alarm) { a.at[k] = time.Time{} }

// isSet reports whether k is set.
func (a *alarms) isSet(k alarm) bool { return !a.at[k].IsZero() }

// fired is called when c delivers: it unsets and returns the alarms now
// due, and arms the timer for the next.
func (a *alarms) fired() (due [numAlarms]bool) {
	a.timer, a.c, a.armed = nil, nil, time.Time{}
	now := a.clock.Now()
	for k, t := range a.at {
		if !t.IsZero() && !t.After(now) {
			due[k] = true
			a.at[k] = time.Time{}
		}
	}
	a.arm()
	return due
}

// arm points the timer at the earliest alarm.
func (a *alarms) arm() {
	var first time.Time
	for _, t := range a.at {
		if !t.IsZero() && (first.IsZero() || t.Before(first)) {
			first = t
		}
	}
	if first.IsZero() || (a.timer != nil && a.armed.Equal(first)) {
		return
	}
	if a.timer != nil {
		a.timer.Stop()
	}
	a.armed = first
	a.timer, a.c = a.clock.NewTimer(max(first.Sub(a.clock.Now()), 0))
}

// stop stops the timer.
func (a *alarms) stop() {
	if a.timer != nil {
		a.timer.Stop()
	}
}
