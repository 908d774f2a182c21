// Package cluster starts a real, disposable Kubernetes control plane on this
// machine for tests, the demo and benchmarks: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok with fake nodes, all built
// from pinned Go modules by test/tools/build.sh. kwok plays the kubelet for
// every pod except those labelled ExecLabel, which a test may ready itself.
// With Options.RealNode a real node (containerd, kubelet, kube-proxy, in
// sealed namespaces: node.go) runs the pods whose images it has imported.
package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ExecLabel marks pods that kwok leaves alone: no status, no readiness, no
// completion. An end-to-end test can then play the kubelet for them.
const ExecLabel = "hookrunner.dev/exec"

// KubeVersion is the version the apiserver reports; test/tools/build.sh
// stamps it and checks it against the pinned k8s.io/kubernetes module.
const KubeVersion = "v1.36.3"

// ErrToolsMissing means the control-plane binaries have not been built; run
// `make tools` (or test/tools/build.sh).
var ErrToolsMissing = errors.New("control-plane binaries not built (run make tools)")

//go:embed stages.yaml
var stagesYAML []byte

// Options configure Start. The zero value is a two-node cluster in a fresh
// temporary directory, using the binaries from ToolsBin().
type Options struct {
	// Dir holds the cluster's state and logs; Start creates a temporary one
	// when empty, and Close removes it.
	Dir string
	// BinDir holds the binaries; default ToolsBin().
	BinDir string
	// Nodes is the number of fake nodes; default 2.
	Nodes int
	// RealNode adds a real node beside the fake ones: a kubelet with
	// containerd in sealed namespaces (see node.go). It runs pods whose
	// every image was imported into it; kwok runs all others.
	RealNode bool
	// Images are OCI archives imported into the real node's containerd,
	// besides the pause image it builds itself.
	Images []string
}

// Cluster is a running control plane.
type Cluster struct {
	// Dir holds state, certificates, kubeconfigs and logs/.
	Dir string
	// Kubeconfig is the path of an admin (system:masters) kubeconfig.
	Kubeconfig string
	// Host is the apiserver URL.
	Host string

	ownDir bool
	node   *node
	token  string
	caData []byte
	procs  []*process // in start order

	// apiserver restarts with the same binary and arguments.
	apiserverBin  string
	apiserverArgs []string
}

// ToolsBin returns the directory with the control-plane binaries:
// $HOOKRUNNER_TOOLS_BIN, else .tools/bin in the nearest parent directory of
// the working directory that has one.
func ToolsBin() (string, error) {
	if dir := os.Getenv("HOOKRUNNER_TOOLS_BIN"); dir != "" {
		return dir, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		candidate := filepath.Join(dir, ".tools", "bin")
		if _, err := os.Stat(filepath.Join(candidate, "kube-apiserver")); err == nil {
			return candidate, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrToolsMissing
		}
		dir = parent
	}
}

// Start brings up a control plane and returns when the apiserver is ready,
// the fake nodes are Ready and the default ServiceAccount exists. On error
// everything already started is stopped; the error carries the tail of the
// component logs.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	if opts.BinDir == "" {
		if opts.BinDir, err = ToolsBin(); err != nil {
			return nil, err
		}
	}
	need := []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}
	if opts.RealNode {
		need = append(need, "kubelet", "kube-proxy")
	}
	for _, name := range need {
		if _, err := os.Stat(filepath.Join(opts.BinDir, name)); err != nil {
			return nil, fmt.Errorf("%w: %s", ErrToolsMissing, err)
		}
	}
	if opts.Nodes == 0 {
		opts.Nodes = 2
	}
	c = &Cluster{Dir: opts.Dir}
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "hookrunner-cluster-"); err != nil {
			return nil, err
		}
		c.ownDir = true
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, c.LogTail(20))
			_ = c.Close()
			c = nil
		}
	}()
	if err := c.start(ctx, opts); err != nil {
		return c, err
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context, opts Options) error {
	for _, sub := range []string{"logs", "etcd", "pki"} {
		if err := os.MkdirAll(filepath.Join(c.Dir, sub), 0o700); err != nil {
			return err
		}
	}
	if err := c.writeCredentials(); err != nil {
		return err
	}
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	bind := "127.0.0.1"
	if opts.RealNode {
		// The pause image first: its build is the slow part of the node.
		pause := filepath.Join(c.Dir, "images", "pause.oci.tar")
		if err := BuildImage(ctx, pause, PauseImage, "/pause", "none", "github.com/hookrunner/hookrunner/test/cmd/pause", "-s -w"); err != nil {
			return err
		}
		if c.node, err = newNode(c.Dir); err != nil {
			return err
		}
		c.node.archives = append([]string{pause}, opts.Images...)
		// The API server listens on this machine's end of the veth pair,
		// the one address outside the node's namespace that pods reach.
		bind = c.node.hostIP.String()
	}
	c.Host = "https://" + net.JoinHostPort(bind, strconv.Itoa(ports[2]))
	bin := func(name string) string { return filepath.Join(opts.BinDir, name) }
	pki := func(name string) string { return filepath.Join(c.Dir, "pki", name) }

	if err := c.run("etcd", bin("etcd"),
		"--data-dir="+filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--unsafe-no-fsync", // state is disposable; fsync dominates start time on shared disks
	); err != nil {
		return err
	}
	if err := c.waitHTTP(ctx, "etcd", etcdURL+"/health", nil, `"health":"true"`); err != nil {
		return err
	}

	c.apiserverBin = bin("kube-apiserver")
	c.apiserverArgs = []string{
		"--etcd-servers=" + etcdURL,
		"--cert-dir=" + pki(""),
		"--secure-port=" + strconv.Itoa(ports[2]), "--bind-address=" + bind, "--advertise-address=" + bind,
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + pki("sa.pub"),
		"--service-account-signing-key-file=" + pki("sa.key"),
		"--token-auth-file=" + pki("tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range=" + ServiceCIDR,
		"--allow-privileged=true",
		"--enable-priority-and-fairness=false", // no request queueing: benchmarks measure hookrunner, not APF
		// Reach kubelets (logs, exec) by IP, never by resolving a node's
		// name through this machine's DNS server, which is outside it.
		"--kubelet-preferred-address-types=InternalIP",
	}
	if err := c.StartAPIServer(ctx); err != nil {
		return err
	}
	if c.caData, err = os.ReadFile(pki("apiserver.crt")); err != nil {
		return err
	}
	c.Kubeconfig = filepath.Join(c.Dir, "admin.kubeconfig")
	if err := c.writeKubeconfig(c.Kubeconfig, "admin", c.token); err != nil {
		return err
	}

	kc := "--kubeconfig=" + c.Kubeconfig
	if err := c.run("kube-controller-manager", bin("kube-controller-manager"), kc,
		"--authentication-kubeconfig="+c.Kubeconfig, "--authorization-kubeconfig="+c.Kubeconfig,
		"--leader-elect=false", "--secure-port=0",
		"--service-account-private-key-file="+pki("sa.key"),
		"--root-ca-file="+pki("apiserver.crt"),
		"--use-service-account-credentials=false",
		"--controllers=*,-nodeipam,-serviceaccount-token",
	); err != nil {
		return err
	}
	if err := c.run("kube-scheduler", bin("kube-scheduler"), kc,
		"--authentication-kubeconfig="+c.Kubeconfig, "--authorization-kubeconfig="+c.Kubeconfig,
		"--leader-elect=false", "--secure-port=0",
	); err != nil {
		return err
	}
	stages := filepath.Join(c.Dir, "stages.yaml")
	if err := os.WriteFile(stages, stagesYAML, 0o600); err != nil {
		return err
	}
	if err := c.run("kwok", bin("kwok"), kc, "--config="+stages,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--cidr=10.0.0.1/24",
		// A log request for a kwok pod dials the node's IP: loopback, where
		// nothing listens, never an address outside this machine.
		"--node-ip=127.0.0.1",
		"--server-address=", // no metrics/debug server: parallel clusters would fight over its port
	); err != nil {
		return err
	}

	client, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		return err
	}
	if c.node != nil {
		if err := c.node.start(ctx, c, opts.BinDir); err != nil {
			return fmt.Errorf("real node: %w", err)
		}
	}
	for i := range opts.Nodes {
		if _, err := client.CoreV1().Nodes().Create(ctx, fakeNode(fmt.Sprintf("kwok-node-%d", i)), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create fake node: %w", err)
		}
	}
	err = c.waitFor(ctx, "nodes Ready and default ServiceAccount", func() (bool, error) {
		nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		ready := 0
		for _, n := range nodes.Items {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		if c.node != nil {
			ready-- // counted above, not one of the fake nodes
		}
		if ready < opts.Nodes {
			return false, nil
		}
		_, err = client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil || c.node == nil {
		return err
	}
	return c.steerToNode(ctx)
}

// StartAPIServer starts kube-apiserver (again, after StopAPIServer) on the
// same port with the same state, and waits until it is ready.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	if err := c.run("kube-apiserver", c.apiserverBin, c.apiserverArgs...); err != nil {
		return err
	}
	header := http.Header{"Authorization": {"Bearer " + c.token}}
	return c.waitHTTP(ctx, "kube-apiserver", c.Host+"/readyz", header, "ok")
}

// StopAPIServer kills kube-apiserver (SIGKILL: it may ignore SIGTERM for a
// minute), leaving etcd and the other components running: clients see an
// outage until StartAPIServer.
func (c *Cluster) StopAPIServer() error {
	for i, p := range c.procs {
		if p.name == "kube-apiserver" && p.running() {
			err := p.stop(0)
			c.procs = append(c.procs[:i], c.procs[i+1:]...)
			return err
		}
	}
	return errors.New("kube-apiserver is not running")
}

// fakeNode is a Node that kwok manages, large enough for any chart and with
// ephemeral-storage, which charts with resource presets request.
func fakeNode(name string) *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("64"),
		corev1.ResourceMemory:           resource.MustParse("256Gi"),
		corev1.ResourcePods:             resource.MustParse("500"),
		corev1.ResourceEphemeralStorage: resource.MustParse("200Gi"),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels: map[string]string{
				"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
				"kubernetes.io/arch": "amd64", "type": "kwok",
			},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
}

// writeCredentials creates the service-account signing key pair and the
// static token file with one system:masters user.
func (c *Cluster) writeCredentials() error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	pki := filepath.Join(c.Dir, "pki")
	if err := os.WriteFile(filepath.Join(pki, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(pki, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600); err != nil {
		return err
	}
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	c.token = hex.EncodeToString(raw)
	return os.WriteFile(filepath.Join(pki, "tokens.csv"), []byte(c.token+",admin,admin,system:masters\n"), 0o600)
}

// run starts a component and records it for Close.
func (c *Cluster) run(name, path string, args ...string) error {
	p, err := startProcess(name, path, filepath.Join(c.Dir, "logs", name+".log"), args...)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	return nil
}

// waitHTTP polls url until its body contains want, or a started component
// exits, or ctx ends.
func (c *Cluster) waitHTTP(ctx context.Context, name, url string, header http.Header, want string) error {
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, // the CA is read after readiness
	}
	return c.waitFor(ctx, name+" ready", func() (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, nil
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte(want)), nil
	})
}

// waitFor polls cond every 100 ms for at most a minute, failing early when a
// component has exited.
func (c *Cluster) waitFor(ctx context.Context, what string, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("wait for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		for _, p := range c.procs {
			if !p.running() {
				return fmt.Errorf("wait for %s: %s exited: %v", what, p.name, p.err)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// RESTConfig returns an admin client configuration.
func (c *Cluster) RESTConfig() *rest.Config {
	return &rest.Config{
		Host:            c.Host,
		BearerToken:     c.token,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.caData},
		QPS:             200,
		Burst:           400,
	}
}

// Client returns an admin clientset.
func (c *Cluster) Client() (kubernetes.Interface, error) {
	return kubernetes.NewForConfig(c.RESTConfig())
}

// writeKubeconfig writes a kubeconfig for user authenticating with token.
func (c *Cluster) writeKubeconfig(path, user, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.caData}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: user, Namespace: "default"}
	cfg.CurrentContext = "local"
	return clientcmd.WriteToFile(*cfg, path)
}

// ServiceAccountKubeconfig creates the ServiceAccount namespace/name (and its
// namespace) when missing, mints a token for it with the TokenRequest API and
// returns the path of a kubeconfig that authenticates as it. What it may do
// is what RBAC grants it: nothing, until a test binds a role.
func (c *Cluster) ServiceAccountKubeconfig(ctx context.Context, namespace, name string) (string, error) {
	client, err := c.Client()
	if err != nil {
		return "", err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create namespace %s: %w", namespace, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	if _, err := client.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create serviceaccount %s/%s: %w", namespace, name, err)
	}
	expiry := int64(24 * time.Hour / time.Second)
	tr, err := client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("create token for %s/%s: %w", namespace, name, err)
	}
	path := filepath.Join(c.Dir, "sa-"+namespace+"-"+name+".kubeconfig")
	if err := c.writeKubeconfig(path, namespace+"-"+name, tr.Status.Token); err != nil {
		return "", err
	}
	return path, nil
}

// PIDs returns the process IDs of the running components.
func (c *Cluster) PIDs() []int {
	var pids []int
	for _, p := range c.procs {
		if p.running() {
			pids = append(pids, p.cmd.Process.Pid)
		}
	}
	return pids
}

// LogTail returns the last n lines of each component's log, for failure
// messages.
func (c *Cluster) LogTail(n int) string {
	var b strings.Builder
	for _, p := range c.procs {
		data, err := os.ReadFile(p.logPath)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		fmt.Fprintf(&b, "--- %s (last %d lines of %s)\n%s\n", p.name, len(lines), p.logPath, strings.Join(lines, "\n"))
	}
	return b.String()
}

// Close stops every component, newest first, and removes Dir if Start
// created it.
func (c *Cluster) Close() error {
	var errs []error
	if c.node != nil {
		// First: it takes the node's processes and containers with it.
		errs = append(errs, c.node.close())
	}
	for i := len(c.procs) - 1; i >= 0; i-- {
		errs = append(errs, c.procs[i].stop(2*time.Second))
	}
	c.procs = nil
	if c.ownDir {
		errs = append(errs, os.RemoveAll(c.Dir))
	}
	return errors.Join(errs...)
}

// freePorts returns n distinct TCP ports free on the loopback interface now.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
