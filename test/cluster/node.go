package cluster

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The real node: a kubelet with containerd and runc, kube-proxy and a CNI
// bridge, all in namespaces of their own (network, mount, PID) that exist
// only as long as their processes do. The network namespace is joined to
// this machine by one veth pair and has no default route: pods reach the API
// server on the host end of the veth (directly, or through the `kubernetes`
// Service that kube-proxy maps there) and nothing else. Killing the holder
// process (the PID namespace's init) kills every process of the node,
// containers included, which drops the mounts and the network namespace, and
// with it the veth pair and its route. No state is left behind even when the
// test binary is killed: the holder dies with it (parent-death signal).
const (
	// NodeName is the real node's name.
	NodeName = "hookrunner-node"
	// NodeLabel and NodeLabelValue select the real node; pods that only
	// run locally imported images get them as a node selector.
	NodeLabel      = "hookrunner.dev/node"
	NodeLabelValue = "real"
	// PauseImage is the sandbox image the node builds and imports.
	PauseImage = "localhost/hookrunner-pause:test"
)

// NodeToleration tolerates the real node's taint, which keeps every other
// pod (charts' workloads, whose images cannot be pulled here) on kwok nodes.
var NodeToleration = corev1.Toleration{Key: NodeLabel, Operator: corev1.TolerationOpEqual, Value: NodeLabelValue, Effect: corev1.TaintEffectNoSchedule}

// node is the running real node.
type node struct {
	dir      string
	holder   *process // unshare, parent of the namespaces' init
	pid      int      // the init's PID on this machine, for nsenter
	hostIP   net.IP   // this machine's end of the veth; the API server listens here
	nodeIP   net.IP   // the namespace's end
	veth     string   // host-side interface name
	podCIDR  *net.IPNet
	procs    []*process
	images   []string // names imported, for the scheduling policy
	archives []string
}

// nodeEnvInit makes a process started with it the PID namespace's init:
// it reaps orphans until it is killed (see init below).
const nodeEnvInit = "HOOKRUNNER_TESTCLUSTER_NODE_INIT"

func init() {
	if os.Getenv(nodeEnvInit) != "1" {
		return
	}
	// PID 1 of the node's PID namespace: reap every orphan (containerd
	// shims are reparented here) until the kernel kills the namespace.
	for {
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(-1, &ws, 0, nil); err != nil {
			time.Sleep(time.Second)
		}
	}
}

// nodeTools are the programs the node needs from this machine's Debian
// packages (test/tools/packages.sh installs them).
var nodeTools = []string{"containerd", "containerd-shim-runc-v2", "runc", "ctr", "iptables", "iptables-restore", "unshare", "nsenter", "ip"}

// ErrNodeUnsupported means this machine cannot run the real node: not root,
// or a package missing.
var ErrNodeUnsupported = errors.New("cannot run the real node")

// newNode creates the sealed namespaces and the veth pair. The control plane
// starts after it, listening on hostIP.
func newNode(dir string) (n *node, err error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: needs root (network and mount namespaces)", ErrNodeUnsupported)
	}
	for _, tool := range nodeTools {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%w: %s not found (run test/tools/packages.sh)", ErrNodeUnsupported, tool)
		}
	}
	for _, plugin := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(cniBinDir, plugin)); err != nil {
			return nil, fmt.Errorf("%w: CNI plugin %s not found in %s (run test/tools/packages.sh)", ErrNodeUnsupported, plugin, cniBinDir)
		}
	}
	// Cgroups left by a node whose test binary was killed.
	sweepCgroups(nil, 10*time.Minute)
	n = &node{dir: filepath.Join(dir, "node")}
	for _, sub := range []string{"", "containerd", "state", "cni", "kubelet", "logs", "pods"} {
		if err := os.MkdirAll(filepath.Join(n.dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	defer func() {
		if err != nil {
			_ = n.close()
		}
	}()
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	// --kill-child: the init dies with unshare, and unshare dies with us.
	n.holder, err = startProcessEnv("node-namespaces", "unshare", filepath.Join(n.dir, "logs", "init.log"),
		[]string{nodeEnvInit + "=1"},
		"--net", "--mount", "--propagation=private", "--pid", "--fork", "--kill-child", "--mount-proc", "--", self)
	if err != nil {
		return nil, err
	}
	if n.pid, err = childPID(n.holder); err != nil {
		return nil, err
	}
	if err := n.link(); err != nil {
		return nil, err
	}
	if err := n.checkRoutes(); err != nil {
		return nil, err
	}
	return n, nil
}

const cniBinDir = "/usr/lib/cni"

// childPID waits for the holder's forked child (the namespaces' init).
func childPID(p *process) (int, error) {
	pid := p.cmd.Process.Pid
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if err == nil {
			if f := strings.Fields(string(data)); len(f) > 0 {
				return strconv.Atoi(f[0])
			}
		}
		if !p.running() {
			return 0, fmt.Errorf("unshare exited: %v", p.err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, errors.New("unshare started no child in 10s")
}

// link creates the veth pair, picking free addresses: the pair in
// 10.213.N.0/30 and the pods in 10.214.N.0/24, N free on this machine.
func (n *node) link() error {
	for attempt := 0; attempt < 20; attempt++ {
		var b [2]byte
		_, _ = rand.Read(b[:])
		k := 16 + int(binary.BigEndian.Uint16(b[:]))%224
		pair := &net.IPNet{IP: net.IPv4(10, 213, byte(k), 0).To4(), Mask: net.CIDRMask(30, 32)}
		pods := &net.IPNet{IP: net.IPv4(10, 214, byte(k), 0).To4(), Mask: net.CIDRMask(24, 32)}
		if used, err := routed(pair, pods); err != nil {
			return err
		} else if used {
			continue
		}
		veth := fmt.Sprintf("hrh%d", k)
		// Creating the link is the lock: two clusters never pick one N.
		if out, err := exec.Command("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", strconv.Itoa(n.pid)).CombinedOutput(); err != nil {
			if strings.Contains(string(out), "File exists") {
				continue
			}
			return fmt.Errorf("create veth: %v: %s", err, out)
		}
		n.veth = veth
		n.hostIP = net.IPv4(10, 213, byte(k), 1).To4()
		n.nodeIP = net.IPv4(10, 213, byte(k), 2).To4()
		n.podCIDR = pods
		host := [][]string{
			{"addr", "add", n.hostIP.String() + "/30", "dev", veth},
			{"link", "set", veth, "up"},
			// Replies to pods go back into the namespace; nothing else is routed there.
			{"route", "add", pods.String(), "via", n.nodeIP.String(), "dev", veth},
		}
		for _, args := range host {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
			}
		}
		inside := [][]string{
			{"ip", "link", "set", "lo", "up"},
			{"ip", "addr", "add", n.nodeIP.String() + "/30", "dev", "eth0"},
			{"ip", "link", "set", "eth0", "up"},
			{"sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"},
		}
		for _, args := range inside {
			if out, err := n.nsenter(false, args...).CombinedOutput(); err != nil {
				return fmt.Errorf("in node namespace: %s: %v: %s", strings.Join(args, " "), err, out)
			}
		}
		return nil
	}
	return errors.New("no free address range for the node's veth pair")
}

// routed reports whether any route of this machine overlaps one of nets.
func routed(nets ...*net.IPNet) (bool, error) {
	out, err := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	if err != nil {
		return false, fmt.Errorf("ip route: %w", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		dst := f[0]
		if dst == "local" || dst == "broadcast" || dst == "unicast" {
			if len(f) < 2 {
				continue
			}
			dst = f[1]
		}
		if dst == "default" {
			continue
		}
		if !strings.Contains(dst, "/") {
			dst += "/32"
		}
		_, r, err := net.ParseCIDR(dst)
		if err != nil {
			continue
		}
		for _, n := range nets {
			if r.Contains(n.IP) || n.Contains(r.IP) {
				return true, nil
			}
		}
	}
	return false, nil
}

// nsenter returns a command run in the node's network namespace (and, with
// all, its mount and PID namespaces too).
func (n *node) nsenter(all bool, args ...string) *exec.Cmd {
	ns := []string{"--target", strconv.Itoa(n.pid), "--net"}
	if all {
		ns = append(ns, "--mount", "--pid")
	}
	return exec.Command("nsenter", append(append(ns, "--"), args...)...)
}

// Routes returns the node namespace's IPv4 and IPv6 routes, as `ip route`
// prints them.
func (n *node) routes() (string, error) {
	var b strings.Builder
	for _, family := range []string{"-4", "-6"} {
		out, err := n.nsenter(false, "ip", family, "route", "show", "table", "all").CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("ip route in node namespace: %v: %s", err, out)
		}
		b.Write(out)
	}
	return b.String(), nil
}

// checkRoutes refuses a node namespace with a default route: nothing in it
// may reach an address outside this machine.
func (n *node) checkRoutes() error {
	routes, err := n.routes()
	if err != nil {
		return err
	}
	if r := DefaultRoutes(routes); len(r) > 0 {
		return fmt.Errorf("node namespace has a default route, refusing to go on: %s", strings.Join(r, "; "))
	}
	return nil
}

// DefaultRoutes returns the lines of `ip route` output that route
// everything (default, 0.0.0.0/0, ::/0), from any table.
func DefaultRoutes(routes string) []string {
	var found []string
	for _, line := range strings.Split(routes, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		dst := f[0]
		if dst == "unicast" && len(f) > 1 {
			dst = f[1]
		}
		if dst == "default" || dst == "0.0.0.0/0" || dst == "::/0" {
			found = append(found, strings.TrimSpace(line))
		}
	}
	return found
}

// start runs containerd, imports the images, and runs the kubelet and
// kube-proxy against the API server at host, then waits until the node is
// Ready.
func (n *node) start(ctx context.Context, c *Cluster, binDir string) error {
	path := func(parts ...string) string { return filepath.Join(append([]string{n.dir}, parts...)...) }
	sock := path("containerd", "containerd.sock")
	files := map[string]string{
		"containerd.toml":            fmt.Sprintf(containerdConfig, path("containerd", "root"), path("containerd", "state"), sock, PauseImage, cniBinDir, path("cni")),
		"cni/10-hookrunner.conflist": fmt.Sprintf(cniConfig, n.podCIDR, ServiceCIDR, (&net.IPNet{IP: n.hostIP.Mask(net.CIDRMask(30, 32)), Mask: net.CIDRMask(30, 32)}).String()),
		"kubelet.yaml":               fmt.Sprintf(kubeletConfig, "unix://"+sock, NodeLabel, NodeLabelValue, path("pods")),
		"kube-proxy.yaml":            fmt.Sprintf(kubeProxyConfig, c.Kubeconfig, NodeName, n.podCIDR, n.nodeIP.String()+"/32"),
	}
	for name, data := range files {
		if err := os.WriteFile(path(name), []byte(data), 0o600); err != nil {
			return err
		}
	}
	if err := n.run(c, "containerd", "containerd", "--config", path("containerd.toml")); err != nil {
		return err
	}
	if err := c.waitFor(ctx, "containerd socket", func() (bool, error) {
		_, err := os.Stat(sock)
		return err == nil, nil
	}); err != nil {
		return err
	}
	for _, archive := range n.archives {
		out, err := exec.CommandContext(ctx, "ctr", "--address", sock, "--namespace", "k8s.io", "images", "import", archive).CombinedOutput()
		if err != nil {
			return fmt.Errorf("import %s: %v: %s", archive, err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			// "unpacking NAME (sha256:…)...done"
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "unpacking" {
				n.images = append(n.images, f[1])
			}
		}
	}
	if err := n.run(c, "kubelet", filepath.Join(binDir, "kubelet"),
		"--config="+path("kubelet.yaml"),
		"--kubeconfig="+c.Kubeconfig,
		"--root-dir="+path("kubelet"),
		"--cert-dir="+path("kubelet", "pki"),
		"--hostname-override="+NodeName,
		"--node-ip="+n.nodeIP.String(),
		"--node-labels="+NodeLabel+"="+NodeLabelValue+",type=real",
	); err != nil {
		return err
	}
	if err := n.run(c, "kube-proxy", filepath.Join(binDir, "kube-proxy"), "--config="+path("kube-proxy.yaml")); err != nil {
		return err
	}
	client, err := c.Client()
	if err != nil {
		return err
	}
	return c.waitFor(ctx, "real node Ready", func() (bool, error) {
		nd, err := client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, cond := range nd.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
}

// run starts a node component in the node's namespaces.
func (n *node) run(c *Cluster, name, bin string, args ...string) error {
	cmd := n.nsenter(true, append([]string{bin}, args...)...)
	p, err := startProcess(name, cmd.Path, filepath.Join(c.Dir, "logs", name+".log"), cmd.Args[1:]...)
	if err != nil {
		return err
	}
	n.procs = append(n.procs, p)
	c.procs = append(c.procs, p)
	return nil
}

// close kills the namespaces' init, which takes every node process and
// container with it, and waits for the holder to exit.
func (n *node) close() error {
	if n.holder == nil {
		return nil
	}
	ids := n.containerIDs()
	err := n.holder.stop(0)
	for _, p := range n.procs {
		// nsenter itself exits when its child is killed.
		_ = p.stop(2 * time.Second)
	}
	// The kernel frees the namespaces, the veth pair and its route when the
	// last process is gone; wait for the link to disappear.
	for i := 0; i < 100 && n.veth != ""; i++ {
		if exec.Command("ip", "link", "show", n.veth).Run() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	sweepCgroups(ids, 0)
	return err
}

// ServiceCIDR is the Service IP range of the test cluster.
const ServiceCIDR = "10.0.0.0/24"

// containerd: own root, state and socket; CRI with the local pause image,
// the native snapshotter, runc with cgroupfs; pod network namespaces under
// the state directory (they vanish with the mount namespace).
const containerdConfig = `version = 2
root = %q
state = %q
[grpc]
  address = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
`

// The pod network: a bridge without masquerading and without a default
// route. Pods get routes to the Service range and to the veth pair (the API
// server and the test servers on its host end), nothing else.
const cniConfig = `{
  "cniVersion": "1.0.0",
  "name": "hookrunner",
  "plugins": [{
    "type": "bridge",
    "bridge": "cni0",
    "isGateway": true,
    "isDefaultGateway": false,
    "ipMasq": false,
    "ipam": {
      "type": "host-local",
      "ranges": [[{"subnet": %q}]],
      "routes": [{"dst": %q}, {"dst": %q}]
    }
  }]
}
`

const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: %q
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
cgroupsPerQOS: false
enforceNodeAllocatable: []
localStorageCapacityIsolation: false
# The API server fetches logs with no client certificate; the kubelet's port
# is reachable only over the veth pair, from this machine and the node's pods.
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
readOnlyPort: 0
healthzPort: 0
resolvConf: ""
registerWithTaints:
  - {key: %q, value: %q, effect: NoSchedule}
podLogsDir: %q
# Images cannot be pulled again here: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "1Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
serializeImagePulls: false
`

const kubeProxyConfig = `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: %q}
hostnameOverride: %q
mode: iptables
clusterCIDR: %q
nodePortAddresses: [%q]
bindAddress: 0.0.0.0
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`

// HostIP is the address on this machine that the real node's pods reach:
// the host end of the veth pair, where the API server listens. Test servers
// that hook pods call (callback receivers, chart servers, registries) listen
// here. Without a real node it is 127.0.0.1.
func (c *Cluster) HostIP() string {
	if c.node == nil {
		return "127.0.0.1"
	}
	return c.node.hostIP.String()
}

// HasRealNode reports whether the cluster runs a real node.
func (c *Cluster) HasRealNode() bool { return c.node != nil }

// NodeRoutes returns the routes of the real node's network namespace and of
// every pod network namespace on it, keyed "node" and by namespace path, as
// `ip route` prints them (IPv4 and IPv6, all tables).
func (c *Cluster) NodeRoutes() (map[string]string, error) {
	if c.node == nil {
		return nil, errors.New("no real node")
	}
	routes := map[string]string{}
	r, err := c.node.routes()
	if err != nil {
		return nil, err
	}
	routes["node"] = r
	// Pod namespaces are bind-mounted under containerd's state directory,
	// inside the node's mount namespace.
	script := `for ns in $(find "$1" -path '*netns*' -type f 2>/dev/null); do echo "=== $ns"; nsenter --net="$ns" ip -4 route show table all; nsenter --net="$ns" ip -6 route show table all; done`
	out, err := c.node.nsenter(true, "sh", "-c", script, "sh", filepath.Join(c.node.dir, "containerd", "state")).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("pod routes: %v: %s", err, out)
	}
	for _, part := range strings.Split(string(out), "=== ")[1:] {
		name, body, _ := strings.Cut(part, "\n")
		routes[name] = body
	}
	return routes, nil
}

// containerIDs returns the IDs of every container and sandbox containerd
// created for the node, from its root directory.
func (n *node) containerIDs() map[string]bool {
	ids := map[string]bool{}
	for _, kind := range []string{"containers", "sandboxes"} {
		entries, _ := os.ReadDir(filepath.Join(n.dir, "containerd", "root", "io.containerd.grpc.v1.cri", kind))
		for _, e := range entries {
			ids[e.Name()] = true
		}
	}
	return ids
}

// sweepCgroups removes the empty cgroups runc left under the k8s.io parent
// of each cgroup v1 controller (a container killed with its node, not
// deleted): those named in ids, or when ids is nil those older than
// olderThan (left by a node whose test binary was killed; a fresh cgroup of
// another running node is never that old). rmdir refuses a cgroup that
// still has tasks, so a live container is never touched.
func sweepCgroups(ids map[string]bool, olderThan time.Duration) {
	controllers, _ := os.ReadDir("/sys/fs/cgroup")
	for _, c := range controllers {
		parent := filepath.Join("/sys/fs/cgroup", c.Name(), "k8s.io")
		entries, err := os.ReadDir(parent)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if !e.IsDir() || len(e.Name()) != 64 {
				continue
			}
			if ids != nil && !ids[e.Name()] {
				continue
			}
			if ids == nil {
				info, err := e.Info()
				if err != nil || time.Since(info.ModTime()) < olderThan {
					continue
				}
			}
			_ = syscall.Rmdir(filepath.Join(parent, e.Name()))
		}
	}
}
