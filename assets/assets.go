// Package assets holds the icons drawn for crmsync, embedded in the binary.
package assets

import (
	"embed"

	"fyne.io/fyne/v2"
)

//go:embed icons/*
var icons embed.FS

// AppIcon returns the application icon (the tray and window icon until
// per-state tray icons are drawn).
func AppIcon() fyne.Resource {
	b, err := icons.ReadFile("icons/app.png")
	if err != nil {
		// The file is embedded at build time; a miss is a build defect.
		panic("assets: app icon missing from the build: " + err.Error())
	}
	return fyne.NewStaticResource("app.png", b)
}
