package runner

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/klauspost/compress/gzip"
	ri "helm.sh/helm/v4/pkg/release"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
)

// maxReleaseRecord is the most a release Secret's data may hold.
const maxReleaseRecord = 1 << 20

// errReleaseTooLarge is a release whose record cannot be stored: bad input
// (values or chart too large), refused before anything is created.
var errReleaseTooLarge = errors.New("release too large")

// releaseStore is Helm's Secrets driver with a cheaper write. Helm encodes
// a release (JSON, gzip at its best compression, base64) on every write,
// and writes a release again after each hook resource: for a chart with
// large CRDs (argo-cd: a record of several hundred KiB) most of an
// install's CPU went to gzip. Here each write encodes once, with a faster
// gzip (klauspost/compress, standard format: helm 3 and 4 read it
// unchanged), and falls back to the best compression only when the fast
// record would not fit in a Secret. A record that does not fit even then
// is refused, with its size, before anything is created. Reads, queries
// and deletes are Helm's own.
type releaseStore struct {
	*driver.Secrets
	impl corev1client.SecretInterface
}

func newReleaseStore(impl corev1client.SecretInterface) releaseStore {
	return releaseStore{Secrets: driver.NewSecrets(impl), impl: impl}
}

// Create stores a new revision, as Helm's driver does.
func (s releaseStore) Create(key string, rls ri.Releaser) error {
	obj, err := s.object(key, rls, "createdAt")
	if err != nil {
		return err
	}
	if _, err := s.impl.Create(context.Background(), obj, metav1.CreateOptions{}); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return driver.ErrReleaseExists
		}
		return fmt.Errorf("create: failed to create: %w", err)
	}
	return nil
}

// Update replaces a stored revision, as Helm's driver does.
func (s releaseStore) Update(key string, rls ri.Releaser) error {
	obj, err := s.object(key, rls, "modifiedAt")
	if err != nil {
		return err
	}
	if _, err := s.impl.Update(context.Background(), obj, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update: failed to update: %w", err)
	}
	return nil
}

// object is the Secret Helm's driver would write for rel: the same name,
// type, labels (the release's own, then name, owner, status, version and
// the time label stamp) and data key.
func (s releaseStore) object(key string, rls ri.Releaser, stamp string) (*corev1.Secret, error) {
	rel, err := asRelease(rls)
	if err != nil {
		return nil, err
	}
	if rel == nil {
		return nil, errors.New("no release to store")
	}
	data, err := encodeRecord(rel)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{}
	for k, v := range rel.Labels {
		labels[k] = v
	}
	labels[stamp] = strconv.FormatInt(time.Now().Unix(), 10)
	labels["name"] = rel.Name
	labels["owner"] = "helm"
	labels["status"] = rel.Info.Status.String()
	labels["version"] = strconv.Itoa(rel.Version)
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: key, Labels: labels},
		Type:       "helm.sh/release.v1",
		Data:       map[string][]byte{"release": data},
	}, nil
}

// encodeRecord encodes rel as Helm's driver stores it: base64 of gzip of
// JSON. It returns errReleaseTooLarge when even the best compression
// leaves it over maxReleaseRecord.
func encodeRecord(rel *release.Release) ([]byte, error) {
	raw, err := json.Marshal(rel)
	if err != nil {
		return nil, err
	}
	data, err := gzipBase64(raw, gzip.DefaultCompression)
	if err != nil || len(data) <= maxReleaseRecord {
		return data, err
	}
	if data, err = gzipBase64(raw, gzip.BestCompression); err != nil || len(data) <= maxReleaseRecord {
		return data, err
	}
	files := 0
	if rel.Chart != nil {
		files = len(rel.Chart.Raw)
	}
	config, _ := json.Marshal(rel.Config)
	return nil, fmt.Errorf("%w: the record of release %s revision %d would be %d bytes (chart %d files, values %d bytes, manifest %d bytes), over the %d bytes a Secret holds: make the values or the chart smaller",
		errReleaseTooLarge, rel.Name, rel.Version, len(data), files, len(config), len(rel.Manifest), maxReleaseRecord)
}

func gzipBase64(raw []byte, level int) ([]byte, error) {
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, level)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(raw); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	out := make([]byte, base64.StdEncoding.EncodedLen(buf.Len()))
	base64.StdEncoding.Encode(out, buf.Bytes())
	return out, nil
}
