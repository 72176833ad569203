module crmsync

go 1.26.8

require (
	fyne.io/fyne/v2 v2.7.1
	github.com/fsnotify/fsnotify v1.10.1
	github.com/godbus/dbus/v5 v5.2.2
	github.com/mattn/go-sqlite3 v1.14.53
	github.com/zalando/go-keyring v0.2.8
	golang.org/x/oauth2 v0.38.0
	golang.org/x/sys v0.30.0
	golang.org/x/text v0.44.0
)

require github.com/danieljoos/wincred v1.2.3 // indirect
