package functions_test

import (
	"testing"

	"crmsync/agent/crm/localcrm"
	"crmsync/agent/crm/localcrm/internal/crmtest"
)

// newEnv starts a seeded server for a test.
func newEnv(t *testing.T, opts localcrm.Options) *crmtest.Env { return crmtest.New(t, opts) }
