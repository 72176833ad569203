// Package assets holds the icons drawn for crmsync, embedded in the binary.
// Each icon is kept as SVG (the source) and PNG (rendered from it, what the
// tray hosts accept).
package assets

import (
	"embed"

	"fyne.io/fyne/v2"
)

//go:embed icons/*.png icons/*.svg
var icons embed.FS

// The tray icon names, one per connection state.
const (
	TrayOnline       = "online"
	TrayOff          = "off"
	TrayConnecting   = "connecting"
	TraySignIn       = "signin"
	TrayNotPermitted = "notpermitted"
	TrayError        = "error"
)

// AppIcon returns the application icon.
func AppIcon() fyne.Resource { return load("icons/app.png") }

// TrayIcon returns the tray icon for a state name (TrayOnline, ...); an
// unknown name gets the error icon.
func TrayIcon(name string) fyne.Resource {
	switch name {
	case TrayOnline, TrayOff, TrayConnecting, TraySignIn, TrayNotPermitted, TrayError:
		return load("icons/state-" + name + ".png")
	}
	return load("icons/state-error.png")
}

func load(path string) fyne.Resource {
	b, err := icons.ReadFile(path)
	if err != nil {
		// Every name load is called with is embedded at build time; a
		// miss is a build defect, caught by the package's test.
		panic("assets: " + path + " missing from the build: " + err.Error())
	}
	return fyne.NewStaticResource(path[len("icons/"):], b)
}
