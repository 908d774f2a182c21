package runner

import (
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/gzip"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/hookrunner/hookrunner/test/corpus"
)

// The release store writes the Secret Helm's own driver writes (name,
// type, labels, data key), and Helm's driver reads it back unchanged.
func TestReleaseStoreWritesHelmsRecord(t *testing.T) {
	rel := &release.Release{
		Name: "app", Namespace: "ns", Version: 3, Chart: testChart("1.0.0"),
		Config: map[string]any{"v": "2"}, Manifest: "apiVersion: v1\nkind: ConfigMap\n",
		Labels: map[string]string{"hookrunner.dev/config-hash": "abc"},
		Info:   &release.Info{Status: rcommon.StatusDeployed, FirstDeployed: time.Unix(1700000000, 0).UTC(), LastDeployed: time.Unix(1700000000, 0).UTC()},
	}
	ours, helms := fake.NewClientset().CoreV1().Secrets("ns"), fake.NewClientset().CoreV1().Secrets("ns")
	const key = "sh.helm.release.v1.app.v3"
	if err := newReleaseStore(ours, nil).Create(key, rel); err != nil {
		t.Fatal(err)
	}
	if err := driver.NewSecrets(helms).Create(key, rel); err != nil {
		t.Fatal(err)
	}
	got, _ := ours.Get(context.Background(), key, metav1.GetOptions{})
	want, _ := helms.Get(context.Background(), key, metav1.GetOptions{})
	delete(got.Labels, "createdAt")
	delete(want.Labels, "createdAt")
	if diff := cmp.Diff(want.Labels, got.Labels); diff != "" {
		t.Errorf("labels (-helm +ours):\n%s", diff)
	}
	if got.Type != want.Type || len(got.Data) != 1 || got.Data["release"] == nil {
		t.Errorf("secret type %q data keys %d, want %q and release", got.Type, len(got.Data), want.Type)
	}
	read, err := driver.NewSecrets(ours).Get(key)
	if err != nil {
		t.Fatalf("Helm's driver cannot read the record: %v", err)
	}
	back, _ := asRelease(read)
	if back.Name != "app" || back.Version != 3 || back.Config["v"] != "2" || back.Manifest != rel.Manifest || back.Chart.Metadata.Version != "1.0.0" {
		t.Errorf("read back %+v", back)
	}
	// And the store reads Helm's own record, by key and by query, with
	// Helm's labels (Get without the system ones, Query with them).
	mine, err := newReleaseStore(helms, nil).Get(key)
	if err != nil {
		t.Fatalf("the store cannot read Helm's record: %v", err)
	}
	if r, _ := asRelease(mine); r.Manifest != rel.Manifest || r.Labels["hookrunner.dev/config-hash"] != "abc" || r.Labels["owner"] != "" {
		t.Errorf("Get of Helm's record: %+v labels %v", r, r.Labels)
	}
	found, err := newReleaseStore(helms, nil).Query(map[string]string{"name": "app", "owner": "helm"})
	if err != nil || len(found) != 1 {
		t.Fatalf("Query: %v, %d records", err, len(found))
	}
	if r, _ := asRelease(found[0]); r.Version != 3 || r.Labels["owner"] != "helm" {
		t.Errorf("Query of Helm's record: version %d labels %v", r.Version, r.Labels)
	}
	if _, err := newReleaseStore(helms, nil).Query(map[string]string{"name": "nope"}); err != driver.ErrReleaseNotFound {
		t.Errorf("Query of nothing: %v, want ErrReleaseNotFound", err)
	}
	// An update keeps the name and stamps modifiedAt, as Helm's does.
	rel.Info.Status = rcommon.StatusSuperseded
	if err := newReleaseStore(ours, nil).Update(key, rel); err != nil {
		t.Fatal(err)
	}
	got, _ = ours.Get(context.Background(), key, metav1.GetOptions{})
	if got.Labels["status"] != "superseded" || got.Labels["modifiedAt"] == "" {
		t.Errorf("labels after update %v", got.Labels)
	}
	if err := newReleaseStore(ours, nil).Create(key, rel); err != driver.ErrReleaseExists {
		t.Errorf("create over an existing record: %v, want ErrReleaseExists", err)
	}
}

// The record holds exactly the JSON json.Marshal gives, as Helm's driver
// writes it, whatever the compression level.
func TestRecordHoldsHelmsJSON(t *testing.T) {
	at := time.Unix(1700000000, 0).UTC()
	tests := map[string]*release.Release{
		"no chart": {Name: "a", Namespace: "ns", Version: 1, Info: &release.Info{Status: rcommon.StatusDeployed, LastDeployed: at}},
		"chart and manifest": {
			Name: "app", Namespace: "ns", Version: 3, Chart: testChart("1.0.0"),
			Config:   map[string]any{"v": "2", "html": "<a href='x'>&</a>"},
			Manifest: "apiVersion: v1\nkind: ConfigMap\ndata:\n  x: \"<&>\\u2028\"\n",
			Labels:   map[string]string{"hookrunner.dev/config-hash": "abc"},
			Info:     &release.Info{Status: rcommon.StatusPendingInstall, FirstDeployed: at, LastDeployed: at, Description: "é ✓"},
		},
	}
	for name, rel := range tests {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(rel)
			if err != nil {
				t.Fatal(err)
			}
			for _, level := range []int{gzip.DefaultCompression, gzip.BestCompression} {
				data, err := encodeRecordLevel(rel, level)
				if err != nil {
					t.Fatal(err)
				}
				raw, err := base64.StdEncoding.DecodeString(string(data))
				if err != nil {
					t.Fatalf("level %d: not base64: %v", level, err)
				}
				zr, err := stdgzip.NewReader(bytes.NewReader(raw))
				if err != nil {
					t.Fatalf("level %d: not gzip: %v", level, err)
				}
				got, err := io.ReadAll(zr)
				if err != nil {
					t.Fatal(err)
				}
				if string(bytes.TrimSuffix(got, []byte("\n"))) != string(want) {
					t.Errorf("level %d: record JSON differs from json.Marshal:\n got %.300s\nwant %.300s", level, got, want)
				}
			}
		})
	}
}

// The store decodes a record as Helm's driver does (encoding/json), field
// for field, from hand-written records that probe encoding/json's
// semantics and from the corpus charts' records; and refuses what the
// driver refuses.
func TestDecodeRecordAsHelm(t *testing.T) {
	gz := func(s string) []byte {
		var b bytes.Buffer
		w := stdgzip.NewWriter(&b)
		_, _ = w.Write([]byte(s))
		_ = w.Close()
		return b.Bytes()
	}
	records := map[string][]byte{
		"plain json": []byte(`{"name":"a","version":2,"namespace":"ns","info":{"status":"deployed"}}`),
		"semantics": gz(`{"Name":"a","VERSION":3,"namespace":"ns","unknown":{"x":[1,2]},` +
			`"config":{"n":1,"big":12345678901234567890,"f":1.5e3,"nul":null,"list":[true,"s",{"k":"v"}],"esc":"\u003c\u2028\ud83d\ude00"},` +
			`"info":{"status":"failed","first_deployed":"2024-01-02T03:04:05.123456789Z","last_deployed":"0001-01-01T00:00:00Z","description":"d","notes":"n"},` +
			`"chart":{"metadata":{"name":"c","version":"1.0.0","annotations":{"a":"b"}},"templates":[{"name":"t.yaml","data":"aGVsbG8="}],"values":{"x":{"y":2}}},` +
			`"hooks":[{"name":"h","kind":"Job","events":["pre-install"],"last_run":{"started_at":"2024-01-02T03:04:05Z","phase":"Succeeded"},"weight":-5}],` +
			`"manifest":"---\n# Source: c/t.yaml\na: b\n","name":"last wins","labels":{"l":"v"}}`),
		"invalid utf-8": gz("{\"name\":\"a\xff\",\"config\":{\"k\xfe\":\"v\"}}"),
		"not json":      gz(`{"name":`),
		"trailing data": gz(`{"name":"a"} {"name":"b"}`),
		"wrong type":    gz(`{"name":"a","version":"3"}`),
	}
	for _, name := range corpus.Charts {
		records[name] = nil // filled below from the chart's install
	}
	for name, raw := range records {
		t.Run(name, func(t *testing.T) {
			var data []byte
			if raw == nil {
				data = corpusRecord(t, name)
			} else {
				data = []byte(base64.StdEncoding.EncodeToString(raw))
			}
			secrets := fake.NewClientset().CoreV1().Secrets("ns")
			const key = "sh.helm.release.v1.a.v1"
			obj := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: key, Labels: map[string]string{"owner": "helm", "name": "a"}}, Data: map[string][]byte{"release": data}}
			if _, err := secrets.Create(context.Background(), obj, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			want, wantErr := driver.NewSecrets(secrets).Get(key)
			got, err := newReleaseStore(secrets, nil).Get(key)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("error %v, Helm's driver: %v", err, wantErr)
			}
			if err != nil {
				return
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decoded differently from Helm's driver:\n got %.600v\nwant %.600v", got, want)
			}
		})
	}
}
