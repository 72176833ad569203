package signintest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is where the chromium package installs the browser.
const ChromiumPath = "/usr/bin/chromium"

// chromiumStep bounds one sign-in in the browser; a test must stay fast.
const chromiumStep = 15 * time.Second

// Chromium returns an opener for signin.Config.Browser that signs in as
// email in a real headless Chromium: it opens the address, fills in login
// and passwd, submits, and waits until the app's loopback page says "You
// can close this tab". The browser runs with a fresh profile and is
// stopped in t.Cleanup. A missing browser fails the test: CI must not
// silently skip the one end-to-end check with a real browser.
func Chromium(t testing.TB, email, password string) func(url string) error {
	t.Helper()
	ctx := startChromium(t)
	return func(authURL string) error {
		sctx, cancel := context.WithTimeout(ctx, chromiumStep)
		defer cancel()
		err := chromedp.Do(sctx,
			chromedp.Navigate(authURL),
			// A login_hint pre-fills the field: type over it, as a user would.
			chromedp.Clear(chromedp.CSS(`input[name="login"]`)),
			chromedp.SendKeys(chromedp.CSS(`input[name="login"]`), email),
			chromedp.SendKeys(chromedp.CSS(`input[name="passwd"]`), password),
			chromedp.Click(chromedp.ID("idSIButton9")),
			waitForText("You can close this tab"),
		)
		if err != nil {
			err = fmt.Errorf("signintest: chromium sign-in (at %s): %w", where(ctx), err)
			t.Errorf("%v", err)
		}
		return err
	}
}

// where says which page the browser shows, without its query (which may
// hold a code), and the page's first words, for failure messages.
func where(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "an unknown page"
	}
	if u, err := url.Parse(loc); err == nil {
		loc = u.Scheme + "://" + u.Host + u.Path
	}
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 200) : ""`))
	return fmt.Sprintf("%s: %q", loc, text)
}

// ChromiumDeviceCode enters code on the device code page at
// verificationURL in a real headless Chromium, signs in as email, and
// waits for the page that confirms it.
func ChromiumDeviceCode(t testing.TB, verificationURL, code, email, password string) error {
	t.Helper()
	ctx := startChromium(t)
	sctx, cancel := context.WithTimeout(ctx, chromiumStep)
	defer cancel()
	err := chromedp.Do(sctx,
		chromedp.Navigate(verificationURL),
		chromedp.SendKeys(chromedp.CSS(`input[name="code"]`), code),
		chromedp.Click(chromedp.ID("idSIButton9")),
		chromedp.SendKeys(chromedp.CSS(`input[name="login"]`), email),
		chromedp.SendKeys(chromedp.CSS(`input[name="passwd"]`), password),
		chromedp.Click(chromedp.ID("idSIButton9")),
		waitForText("You have signed in"),
	)
	if err != nil {
		return fmt.Errorf("signintest: chromium device code sign-in: %w", err)
	}
	return nil
}

// waitForText waits until the page's text contains s. It asks again and
// again, each time briefly: a question asked while the page navigates is
// never answered, so none may wait long.
func waitForText(s string) chromedp.Action[chromedp.Void] {
	expr := fmt.Sprintf(`document.body !== null && document.body.innerText.includes(%q)`, s)
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		for {
			actx, cancel := context.WithTimeout(ctx, time.Second)
			found, _ := chromedp.Evaluate[bool](expr)(actx, t)
			cancel()
			if found {
				return chromedp.Void{}, nil
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("page never said %q: %w", s, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// startChromium starts a headless Chromium with a fresh profile, stopped in
// t.Cleanup. The first Do has no deadline: per chromedp, a deadline there
// would bound the browser's whole life.
func startChromium(t testing.TB) context.Context {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		t.Fatal(errNoChromium)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(ChromiumPath),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("signintest: start chromium: %v", err)
	}
	return ctx
}
