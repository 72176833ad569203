package app

import (
	"image"
	_ "image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDemoWindowUnderXvfb starts crmsync --demo in a real X server, waits
// until it serves its control socket, takes a screenshot of the screen and
// checks that something was drawn; then stops it with SIGTERM and expects
// a clean exit.
func TestDemoWindowUnderXvfb(t *testing.T) {
	for _, tool := range []string{"xvfb-run", "import"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: make test installs xvfb, xauth and imagemagick", tool)
		}
	}
	// Fyne must own the process's main thread, so the app runs as the
	// real binary, built from this tree (a second or two when cached).
	bin := filepath.Join(t.TempDir(), "crmsync")
	build := exec.Command("go", "build", "-o", bin, "crmsync")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := shortDir(t)
	shot := filepath.Join(t.TempDir(), "demo.png")
	if out := os.Getenv("CRMSYNC_SCREENSHOT"); out != "" {
		shot = out
	}
	script := `"$0" --demo --data "$1" & p=$!
i=0; while [ ! -S "$1/control.sock" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
sleep 3
import -window root "$2"
kill -TERM $p; wait $p`
	cmd := exec.Command("xvfb-run", "-a", "-s", "-screen 0 1280x800x24", "sh", "-c", script, bin, dir, shot)
	// A C locale, as in containers: Fyne must fall back to English quietly.
	cmd.Env = cLocaleEnv("C.UTF-8")
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(120 * time.Second):
		cmd.Process.Kill()
		t.Fatal("crmsync --demo under Xvfb did not finish within 120 s")
	}
	if err != nil {
		t.Fatalf("crmsync --demo under Xvfb: %v\n%s", err, out)
	}
	f, ferr := os.Open(shot)
	if ferr != nil {
		t.Fatalf("no screenshot: %v\n%s", ferr, out)
	}
	defer f.Close()
	img, _, ferr := image.Decode(f)
	if ferr != nil {
		t.Fatalf("screenshot unreadable: %v", ferr)
	}
	colors := map[[3]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 4 {
		for x := b.Min.X; x < b.Max.X; x += 4 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colors[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
		}
	}
	if len(colors) < 20 {
		t.Errorf("the screenshot has %d colours: the window did not render\n%s", len(colors), out)
	}
	if strings.Contains(string(out), "Error parsing user locale") {
		t.Errorf("the GUI complained about the C locale:\n%s", out)
	}
	if !strings.Contains(string(out), "crmsync demo: local CRM at http://127.0.0.1:") {
		t.Errorf("the demo did not start its CRM:\n%s", out)
	}
}
