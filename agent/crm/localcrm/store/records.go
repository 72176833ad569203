package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"crmsync/agent/crm/localcrm/internal/wire"
)

// Ref points at a record: its logical table name and id.
type Ref struct {
	Table string `json:"t"`
	ID    string `json:"id"`
}

// Record is one row of any table.
type Record struct {
	Set        string // the entity set, e.g. "emails"
	ID         string
	Seq        int64 // creation order, unique across the store
	Version    int64 // bumped on every write
	CreatedOn  time.Time
	ModifiedOn time.Time
	Attrs      map[string]any  // plain columns: string, float64 or bool; absent = null
	Lookups    map[string]*Ref // by attribute name (ownerid, regardingobjectid, ...)
}

type recordData struct {
	A map[string]any  `json:"a"`
	L map[string]*Ref `json:"l"`
}

// Owner is the id of the record's owner; "" for tables without one.
func (r *Record) Owner() string {
	if o := r.Lookups["ownerid"]; o != nil {
		return o.ID
	}
	return ""
}

// Str returns a string column; "" when it is null.
func (r *Record) Str(col string) string {
	s, _ := r.Attrs[col].(string)
	return s
}

// messageID is the indexed messageid column: an email's Message-ID.
func (r *Record) messageID() any {
	if r.Set != "emails" {
		return nil
	}
	if m := r.Str("messageid"); m != "" {
		return m
	}
	return nil
}

const recordCols = `entityset, id, seq, version, createdon, modifiedon, data`

func scanRecord(sc interface{ Scan(...any) error }) (*Record, error) {
	var (
		r                 Record
		created, modified string
		data              string
	)
	if err := sc.Scan(&r.Set, &r.ID, &r.Seq, &r.Version, &created, &modified, &data); err != nil {
		return nil, err
	}
	var d recordData
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		return nil, fmt.Errorf("localcrm: decode record %s(%s): %w", r.Set, r.ID, err)
	}
	r.Attrs, r.Lookups = d.A, d.L
	if r.Attrs == nil {
		r.Attrs = map[string]any{}
	}
	if r.Lookups == nil {
		r.Lookups = map[string]*Ref{}
	}
	r.CreatedOn, _ = time.Parse(time.RFC3339, created)
	r.ModifiedOn, _ = time.Parse(time.RFC3339, modified)
	return &r, nil
}

// GetRecord returns the record, or nil when it does not exist.
func GetRecord(ctx context.Context, q Queryer, set, id string) (*Record, error) {
	row := q.QueryRowContext(ctx, `SELECT `+recordCols+` FROM records WHERE entityset = ? AND id = ?`, set, id)
	r, err := scanRecord(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("localcrm: read %s(%s): %w", set, id, err)
	}
	return r, nil
}

// ListRecords returns every record of a set in creation order.
func ListRecords(ctx context.Context, q Queryer, set string) ([]*Record, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+recordCols+` FROM records WHERE entityset = ? ORDER BY seq`, set)
	if err != nil {
		return nil, fmt.Errorf("localcrm: list %s: %w", set, err)
	}
	defer rows.Close()
	var out []*Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("localcrm: list %s: %w", set, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("localcrm: list %s: %w", set, err)
	}
	return out, nil
}

// FindByMessageID returns the emails whose messageid is m, oldest first.
// Case matters unless fold is set: duplicate detection compares bytes, an
// OData eq filter ignores (ASCII) case. Each way has its index.
func FindByMessageID(ctx context.Context, q Queryer, m string, fold bool) ([]*Record, error) {
	query := `SELECT ` + recordCols + ` FROM records WHERE messageid = ? AND entityset = 'emails' ORDER BY seq`
	if fold {
		query = `SELECT ` + recordCols + ` FROM records WHERE messageid = ? COLLATE NOCASE AND entityset = 'emails' ORDER BY seq`
	}
	rows, err := q.QueryContext(ctx, query, m)
	if err != nil {
		return nil, fmt.Errorf("localcrm: find message id: %w", err)
	}
	defer rows.Close()
	var out []*Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("localcrm: find message id: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// AddressColumns are the columns the address indexes of schema.sql
// cover: the address columns of the tables an address is resolved in
// (systemuser, contact, account, lead).
var AddressColumns = []string{"emailaddress1", "emailaddress2", "emailaddress3", "internalemailaddress"}

// FindByAddress returns the records that have addr, ignoring case, in any
// of AddressColumns, oldest first. One indexed query answers for all
// tables: address resolution runs for every message decided. A column one
// table keeps an address in could hold something else in another, so the
// caller checks that the column is an address column of the record's table.
func FindByAddress(ctx context.Context, q Queryer, addr string) ([]*Record, error) {
	rows, err := q.QueryContext(ctx, addressQuery, strings.ToLower(addr))
	if err != nil {
		return nil, fmt.Errorf("localcrm: find address: %w", err)
	}
	defer rows.Close()
	var out []*Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("localcrm: find address: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// addressQuery selects records by address through the address indexes of
// schema.sql; its expressions must match theirs exactly.
var addressQuery = func() string {
	terms := make([]string, 0, len(AddressColumns))
	for _, c := range AddressColumns {
		terms = append(terms, `crm_lower(json_extract(data, '$.a.`+c+`')) = ?1`)
	}
	return `SELECT ` + recordCols + ` FROM records WHERE ` + strings.Join(terms, " OR ") + ` ORDER BY seq`
}()

func encodeData(r *Record) (string, error) {
	b, err := json.Marshal(recordData{A: r.Attrs, L: r.Lookups})
	if err != nil {
		return "", fmt.Errorf("localcrm: encode %s(%s): %w", r.Set, r.ID, err)
	}
	return string(b), nil
}

// InsertRecord stores a new record; seq and version are assigned here.
func InsertRecord(ctx context.Context, tx *sql.Tx, r *Record) error {
	v, err := NextVersion(ctx, tx)
	if err != nil {
		return err
	}
	r.Seq, r.Version = v, v
	data, err := encodeData(r)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO records (entityset, id, seq, version, createdon, modifiedon, messageid, data)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Set, r.ID, r.Seq, r.Version, wire.FormatTime(r.CreatedOn), wire.FormatTime(r.ModifiedOn), r.messageID(), data)
	if err != nil {
		return fmt.Errorf("localcrm: insert %s(%s): %w", r.Set, r.ID, err)
	}
	return nil
}

// UpdateRecord writes r back with a new version.
func UpdateRecord(ctx context.Context, tx *sql.Tx, r *Record) error {
	v, err := NextVersion(ctx, tx)
	if err != nil {
		return err
	}
	r.Version = v
	data, err := encodeData(r)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE records SET version = ?, modifiedon = ?, messageid = ?, data = ?
		WHERE entityset = ? AND id = ?`,
		r.Version, wire.FormatTime(r.ModifiedOn), r.messageID(), data, r.Set, r.ID)
	if err != nil {
		return fmt.Errorf("localcrm: update %s(%s): %w", r.Set, r.ID, err)
	}
	return nil
}

// DeleteRecord removes a record and, for emails, its parties.
func DeleteRecord(ctx context.Context, tx *sql.Tx, set, id string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM records WHERE entityset = ? AND id = ?`, set, id); err != nil {
		return fmt.Errorf("localcrm: delete %s(%s): %w", set, id, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM parties WHERE activityid = ?`, id); err != nil {
		return fmt.Errorf("localcrm: delete parties of %s: %w", id, err)
	}
	return nil
}

// Party is one sender or recipient of an email: an activityparty row.
type Party struct {
	ID          string
	ActivityID  string
	Seq         int
	Mask        int  // participationtypemask: 1 sender, 2 to, 3 cc, 4 bcc
	Target      *Ref // nil for an unresolved address
	AddressUsed string
	Unresolved  string // unresolvedpartyname
}

// ListParties returns an email's parties in their order.
func ListParties(ctx context.Context, q Queryer, activityID string) ([]*Party, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, activityid, seq, mask, party_table, party_id, addressused, unresolvedpartyname
		FROM parties WHERE activityid = ? ORDER BY seq`, activityID)
	if err != nil {
		return nil, fmt.Errorf("localcrm: list parties: %w", err)
	}
	defer rows.Close()
	var out []*Party
	for rows.Next() {
		var p Party
		var table, pid string
		if err := rows.Scan(&p.ID, &p.ActivityID, &p.Seq, &p.Mask, &table, &pid, &p.AddressUsed, &p.Unresolved); err != nil {
			return nil, fmt.Errorf("localcrm: list parties: %w", err)
		}
		if pid != "" {
			p.Target = &Ref{Table: table, ID: pid}
		}
		out = append(out, &p)
	}
	return out, rows.Err()
}

// ReplaceParties sets an email's whole party list, as Dataverse treats
// party lists.
func ReplaceParties(ctx context.Context, tx *sql.Tx, activityID string, ps []*Party) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM parties WHERE activityid = ?`, activityID); err != nil {
		return fmt.Errorf("localcrm: replace parties: %w", err)
	}
	for i, p := range ps {
		p.ActivityID, p.Seq = activityID, i
		if p.ID == "" {
			p.ID = wire.NewGUID()
		}
		table, pid := "", ""
		if p.Target != nil {
			table, pid = p.Target.Table, p.Target.ID
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO parties (id, activityid, seq, mask, party_table, party_id, addressused, unresolvedpartyname)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, p.ID, activityID, i, p.Mask, table, pid, p.AddressUsed, p.Unresolved)
		if err != nil {
			return fmt.Errorf("localcrm: insert party: %w", err)
		}
	}
	return nil
}
