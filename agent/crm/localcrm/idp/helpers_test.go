package idp_test

import (
	"testing"

	"crmsync/agent/crm/localcrm"
	"crmsync/agent/crm/localcrm/internal/crmtest"
)

// env is a seeded server, with the sign-in helpers of this package's tests.
type env struct{ *crmtest.Env }

// newEnv starts a seeded server for a test.
func newEnv(t *testing.T, opts localcrm.Options) *env { return &env{crmtest.New(t, opts)} }
