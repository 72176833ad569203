// Package store is the local CRM's SQLite database: records of every table
// (a JSON document each, with indexes for message IDs and addresses),
// email parties, users and tokens. Requests run their writes in Tx; a
// transaction opened with Begin is shared by every request whose context
// carries it, which is how a $batch change set is atomic.
package store
