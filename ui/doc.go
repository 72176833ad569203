// Package ui is the tray app: the Fyne tray menu and windows. It talks to
// the engine only through the contract in package agent, never to the
// engine, cache, CRM client, SQLite, fsnotify or the keychain directly.
package ui
