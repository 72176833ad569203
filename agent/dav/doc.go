// Package dav is the agent's CardDAV (RFC 6352) and CalDAV (RFC 4791)
// transport: it finds the user's address book and calendar homes, makes
// the collections the agent keeps its contacts, appointments and tasks
// in, and reads and writes their items with the ETags that keep two
// writers from overwriting each other.
//
// Everything but principal discovery is plain WebDAV over net/http:
// ctag and sync-token by PROPFIND, changes by REPORT sync-collection
// (RFC 6578) for both protocols, items by addressbook-multiget and
// calendar-multiget, writes by PUT with If-Match or If-None-Match, and
// collections by extended MKCOL (RFC 5689) and MKCALENDAR.
//
// # Hrefs
//
// Every href the package takes or returns is an absolute path,
// percent-decoded: "/alice/contacts/a b.vcf", never "a%20b.vcf" and never
// "https://host/alice/…". Hrefs the server sends, as paths or as full
// URLs, are parsed as URLs and their decoded path kept; hrefs sent to the
// server are encoded back segment by segment. A caller therefore builds a
// new item's href as collection + name and compares hrefs as strings.
// Collection hrefs end in "/". Names should avoid "/" itself: an encoded
// slash (%2F) from a server decodes to a separator.
package dav
