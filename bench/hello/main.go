// Command hello is the smallest Fyne app: one window with one label. The
// benchmark compares crmsync's memory under Xvfb with this floor.
package main

import (
	"fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/widget"
)

func main() {
	a := app.New()
	w := a.NewWindow("hello")
	w.SetContent(widget.NewLabel("Hello, Fyne"))
	w.ShowAndRun()
}
