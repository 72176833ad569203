package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestAddressLookupUsesIndexes guards the address indexes: if the query
// and the index expressions drift apart, SQLite silently falls back to
// reading every record for every message decided.
func TestAddressLookupUsesIndexes(t *testing.T) {
	st, err := Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.db.Query("EXPLAIN QUERY PLAN "+addressQuery, "someone@example.com")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	searches := 0
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
		if strings.HasPrefix(detail, "SCAN records") {
			t.Errorf("the address lookup reads the whole table: %q", detail)
		}
		if strings.HasPrefix(detail, "SEARCH records USING INDEX records_") && strings.Contains(detail, "<expr>=?") {
			searches++
		}
	}
	if want := len(AddressColumns); searches != want {
		t.Errorf("%d of %d address columns searched by index; plan %q", searches, want, plan)
	}
}

// TestSharedTransaction: Tx inside Begin's context is a savepoint, so a
// failing request undoes only its own writes and the transaction goes on.
func TestSharedTransaction(t *testing.T) {
	st, err := Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	put := func(ctx context.Context, id string, fail bool) error {
		return st.Tx(ctx, func(tx *sql.Tx) error {
			now := time.Now()
			if err := InsertRecord(ctx, tx, &Record{Set: "contacts", ID: id, CreatedOn: now, ModifiedOn: now}); err != nil {
				return err
			}
			if fail {
				return errors.New("refused")
			}
			return nil
		})
	}
	exists := func(ctx context.Context, id string) bool {
		r, err := GetRecord(ctx, st.Q(ctx), "contacts", id)
		if err != nil {
			t.Fatal(err)
		}
		return r != nil
	}
	txCtx, commit, rollback, err := st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rollback()
	if _, _, _, err := st.Begin(txCtx); err == nil {
		t.Fatal("nested Begin")
	}
	if err := put(txCtx, "a", false); err != nil {
		t.Fatal(err)
	}
	if err := put(txCtx, "b", true); err == nil {
		t.Fatal("failing write succeeded")
	}
	if !exists(txCtx, "a") || exists(txCtx, "b") {
		t.Fatal("savepoint did not undo exactly the failed write")
	}
	if err := commit(); err != nil {
		t.Fatal(err)
	}
	if !exists(ctx, "a") || exists(ctx, "b") {
		t.Fatal("commit")
	}
}
