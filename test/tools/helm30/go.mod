// Module helm30 pins Helm 3.0.3, the newest of the 3.0 line that ACK's
// managed Helm runs, to prove the wrapper chart lints and renders there. Its
// go.mod is of that era (go 1.13) and copies helm v3.0.3's replace
// directives, without which its dependency graph does not resolve.
module github.com/hookrunner/hookrunner/test/tools/helm30

go 1.13

require helm.sh/helm/v3 v3.0.3

replace (
	github.com/Azure/go-autorest/autorest => github.com/Azure/go-autorest/autorest v0.9.0
	github.com/docker/docker => github.com/moby/moby v0.7.3-0.20190826074503-38ab9da00309
	github.com/miekg/dns => github.com/miekg/dns v0.0.0-20181005163659-0d29b283ac0f
	gopkg.in/inf.v0 v0.9.1 => github.com/go-inf/inf v0.9.1
	gopkg.in/square/go-jose.v2 v2.3.0 => github.com/square/go-jose v2.3.0+incompatible
	rsc.io/letsencrypt => github.com/dmcgowan/letsencrypt v0.0.0-20160928181947-1847a81d2087
)
