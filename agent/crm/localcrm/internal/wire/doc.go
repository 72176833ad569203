// Package wire holds what every part of the local CRM writes on the wire
// the same way: the OData error answer (Error and the Dataverse error
// codes), JSON objects whose keys keep their order, GUIDs, and dates in
// Dataverse's format. It has no knowledge of tables or users, so every
// other package may import it.
package wire
