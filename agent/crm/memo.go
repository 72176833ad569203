package crm

import (
	"container/list"
	"strings"
	"sync"
	"time"
)

// Ask learns, for each address, which record it resolves to and, for each
// Message-ID, whether the CRM holds it. The track that follows a decision
// within moments needs the same facts; remembering them briefly is what
// makes a lone arrival cost two requests (one Ask, one track) instead of
// five. The memory is in process only, short and bounded: it holds IDs,
// never names, and is never written anywhere.
const (
	memoTTL = 2 * time.Minute
	memoMax = 10000 // entries of each kind; the oldest goes first
)

// memo is the client's short-lived memory of Ask's answers.
type memo struct {
	now   func() time.Time
	mu    sync.Mutex
	addrs *lru // lower-case address -> Party (Entity and ID only)
	// senders holds addresses resolved as senders only: against system
	// users (a sender binds a user or a queue, nothing else), so a miss
	// there says nothing about contacts or accounts.
	senders *lru
	mids    *lru // lower-case Message-ID -> *ActivityInfo (nil: absent)
}

func newMemo(now func() time.Time) *memo {
	return &memo{now: now, addrs: newLRU(memoMax), senders: newLRU(memoMax), mids: newLRU(memoMax)}
}

// addrKey is how an address is compared: the CRM compares strings
// without regard to case.
func addrKey(a string) string { return strings.ToLower(strings.TrimSpace(a)) }

// midKey is how a Message-ID is compared; Dataverse's eq ignores case.
func midKey(m string) string { return strings.ToLower(m) }

// party returns the remembered resolution of addr, if fresh.
func (m *memo) party(addr string) (Party, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.addrs.get(addrKey(addr), m.now())
	if !ok {
		return Party{}, false
	}
	p := v.(Party)
	p.Address = addr
	return p, true
}

// putParty remembers what addr resolved to (or that it resolved to nothing).
func (m *memo) putParty(addr string, p Party) {
	k := addrKey(addr)
	if k == "" {
		return
	}
	m.mu.Lock()
	m.addrs.put(k, Party{Entity: p.Entity, ID: p.ID}, m.now().Add(memoTTL))
	m.mu.Unlock()
}

// sender returns what addr is remembered to be as a sender: a system user,
// or unresolved. A full resolution answers this too.
func (m *memo) sender(addr string) (Party, bool) {
	if p, ok := m.party(addr); ok {
		if p.Entity != "systemuser" {
			p.Entity, p.ID = "", ""
		}
		return p, true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.senders.get(addrKey(addr), m.now())
	if !ok {
		return Party{}, false
	}
	p := v.(Party)
	p.Address = addr
	return p, true
}

// putSender remembers what addr resolved to among system users.
func (m *memo) putSender(addr string, p Party) {
	k := addrKey(addr)
	if k == "" {
		return
	}
	m.mu.Lock()
	m.senders.put(k, Party{Entity: p.Entity, ID: p.ID}, m.now().Add(memoTTL))
	m.mu.Unlock()
}

// message returns what is remembered about a Message-ID: known reports
// whether anything is; info is nil when the CRM did not hold it.
func (m *memo) message(mid string) (info *ActivityInfo, known bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.mids.get(midKey(mid), m.now())
	if !ok {
		return nil, false
	}
	a, _ := v.(*ActivityInfo)
	if a == nil {
		return nil, true
	}
	cp := *a
	return &cp, true
}

// putMessage remembers whether the CRM holds mid (info nil: it does not).
func (m *memo) putMessage(mid string, info *ActivityInfo) {
	var v any = (*ActivityInfo)(nil)
	if info != nil {
		cp := *info
		v = &cp
	}
	m.mu.Lock()
	m.mids.put(midKey(mid), v, m.now().Add(memoTTL))
	m.mu.Unlock()
}

// forgetMessage drops what is remembered about mid: once tracked, "absent"
// is wrong, and the new activity's owner is best read from the CRM.
func (m *memo) forgetMessage(mid string) {
	m.mu.Lock()
	m.mids.del(midKey(mid))
	m.mu.Unlock()
}

// lru is a map with expiry and a size bound that drops the oldest entry.
// Not safe for concurrent use; memo's lock guards it.
type lru struct {
	max   int
	order *list.List // of *lruEntry, oldest at the front
	byKey map[string]*list.Element
}

type lruEntry struct {
	key     string
	val     any
	expires time.Time
}

func newLRU(max int) *lru {
	return &lru{max: max, order: list.New(), byKey: map[string]*list.Element{}}
}

func (l *lru) get(k string, now time.Time) (any, bool) {
	el, ok := l.byKey[k]
	if !ok {
		return nil, false
	}
	e := el.Value.(*lruEntry)
	if !now.Before(e.expires) {
		l.order.Remove(el)
		delete(l.byKey, k)
		return nil, false
	}
	return e.val, true
}

func (l *lru) put(k string, v any, expires time.Time) {
	if el, ok := l.byKey[k]; ok {
		l.order.Remove(el)
	}
	l.byKey[k] = l.order.PushBack(&lruEntry{k, v, expires})
	for l.order.Len() > l.max {
		old := l.order.Front()
		l.order.Remove(old)
		delete(l.byKey, old.Value.(*lruEntry).key)
	}
}

func (l *lru) del(k string) {
	if el, ok := l.byKey[k]; ok {
		l.order.Remove(el)
		delete(l.byKey, k)
	}
}
