package runner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/hookrunner/hookrunner/chart"
	"github.com/hookrunner/hookrunner/images"
	"github.com/hookrunner/hookrunner/kube"
	"github.com/hookrunner/hookrunner/runner/callback"
	"github.com/hookrunner/hookrunner/runner/postrender"
)

// The exit codes are a contract: orchestrators branch on them, and the
// README's table lists them. A change here is a change of the contract.
func TestExitCodes(t *testing.T) {
	got := []int{ExitOK, ExitInternal, ExitBadInput, ExitChart, ExitCluster, ExitAction, ExitTimeout, ExitCallback, ExitInterrupted, ExitChanges}
	want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 2}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("exit code %d is %d, want %d", i, got[i], want[i])
		}
	}
}

// classify maps every cause to its documented exit code; causes that say
// more than the step win over the step's code.
func TestClassify(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	live := context.Background()
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "x", errors.New("no"))
	unauthorized := apierrors.NewUnauthorized("token expired")
	netErr := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	wrap := func(err error) error { return fmt.Errorf("step: %w", err) }
	cases := map[string]struct {
		ctx  context.Context
		code int // the step's own code
		err  error
		want int
	}{
		"interrupted":         {cancelled, ExitAction, wrap(context.Canceled), ExitInterrupted},
		"cancel, not ours":    {live, ExitAction, wrap(context.Canceled), ExitAction},
		"deadline":            {live, ExitAction, wrap(context.DeadlineExceeded), ExitTimeout},
		"invalid spec":        {live, ExitAction, wrap(errInvalidSpec), ExitBadInput},
		"release too large":   {live, ExitAction, wrap(errReleaseTooLarge), ExitBadInput},
		"kubeconfig":          {live, ExitCluster, wrap(kube.ErrInvalidKubeconfig), ExitBadInput},
		"condition":           {live, ExitTimeout, wrap(kube.ErrInvalidCondition), ExitBadInput},
		"drift ignore":        {live, ExitAction, wrap(kube.ErrInvalidIgnore), ExitBadInput},
		"chart source":        {live, ExitChart, wrap(chart.ErrInvalidSource), ExitBadInput},
		"values":              {live, ExitBadInput, wrap(chart.ErrInvalidValues), ExitBadInput},
		"callback settings":   {live, ExitBadInput, wrap(callback.ErrInvalid), ExitBadInput},
		"image rule":          {live, ExitBadInput, wrap(images.ErrInvalid), ExitBadInput},
		"post-render":         {live, ExitAction, wrap(postrender.ErrInvalid), ExitBadInput},
		"unreachable":         {live, ExitAction, wrap(errUnreachable), ExitCluster},
		"chart unavailable":   {live, ExitChart, wrap(chart.ErrUnavailable), ExitChart},
		"digest mismatch":     {live, ExitChart, wrap(chart.ErrDigestMismatch), ExitChart},
		"unverified":          {live, ExitChart, wrap(chart.ErrUnverified), ExitChart},
		"forbidden":           {live, ExitAction, wrap(forbidden), ExitCluster},
		"unauthorized":        {live, ExitAction, wrap(unauthorized), ExitCluster},
		"network":             {live, ExitAction, wrap(netErr), ExitCluster},
		"network, chart step": {live, ExitChart, wrap(netErr), ExitChart},
		"refused":             {live, ExitAction, wrap(syscall.ECONNREFUSED), ExitCluster},
		"CRD refused":         {live, ExitAction, wrap(kube.ErrCRD), ExitAction},
		"anything else":       {live, ExitAction, errors.New("helm said no"), ExitAction},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := classify(tc.ctx, tc.code, tc.err); got != tc.want {
				t.Errorf("classify = %d, want %d", got, tc.want)
			}
		})
	}
}
