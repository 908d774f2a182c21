// Command etcd is the etcd server built from go.etcd.io/etcd/server/v3, the
// module kube-apiserver's own etcd client is tested against. The upstream etcd
// binary lives in the root module go.etcd.io/etcd/v3, which is not needed here.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
