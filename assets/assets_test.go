package assets

import (
	"bytes"
	"testing"
)

func TestIconsEmbedded(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n")
	for _, name := range []string{TrayOnline, TrayOff, TrayConnecting, TraySignIn, TrayNotPermitted, TrayError, "unknown"} {
		r := TrayIcon(name)
		if !bytes.HasPrefix(r.Content(), png) {
			t.Errorf("tray icon %q is not a PNG", name)
		}
	}
	if !bytes.HasPrefix(AppIcon().Content(), png) {
		t.Error("app icon is not a PNG")
	}
	if TrayIcon(TrayOnline).Name() == TrayIcon(TrayOff).Name() {
		t.Error("states must have distinct icons")
	}
}
